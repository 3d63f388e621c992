"""Firebase ML v1beta2 on the emulator, through the real firebase_admin.ml and google-cloud-storage.

The firebase_admin app comes from components/cloud/clients.py (the one place that points
firebase-admin's base URLs at the emulator); every call below is firebase_admin.ml's own.
"""

import functools
import hashlib
import time
import urllib.request
import uuid

import pytest
from firebase_admin import exceptions

from components.cloud.clients import CloudTarget, firebase_app, firebase_ml_module
from emulator import automl_v1, firebase_ml
from emulator.core.firebase_models import MAX_MODEL_BYTES, VALIDATE_STEP
from emulator.core.model_filter import Filterable, parse_filter
from emulator.server import FIREBASE_ML_ENV
from tests.fixtures.calls import recorded_calls
from tests.fixtures.emulator import (
    PROJECT,
    admin,
    json_call,
    patched_environ,
    storage_client,
)

ml = firebase_ml_module()
TARGET = CloudTarget(stack="local", project=PROJECT, emulator=True)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def bucket(emulator):
    return storage_client(emulator.env).create_bucket(f"fbml-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def app(emulator):
    return firebase_app(TARGET)


def _upload(bucket, data: bytes, name: str | None = None) -> str:
    name = name or f"exports/{uuid.uuid4().hex[:8]}/model.tflite"
    bucket.blob(name).upload_from_string(data, content_type="application/octet-stream")
    return f"gs://{bucket.name}/{name}"


def _source(app, uri: str):
    return ml.TFLiteFormat(model_source=ml.TFLiteGCSModelSource(uri, app=app))


def _create(app, display_name: str, uri: str, tags: list[str] | None = None):
    model = ml.create_model(
        ml.Model(display_name=display_name, tags=tags or [], model_format=_source(app, uri)),
        app=app,
    )
    model.wait_for_unlocked(30)
    return model


def test_lifecycle_create_publish_list_update_unpublish_delete(app, bucket, tflite_files):
    first, second = tflite_files
    name = _unique("lifecycle")
    uri = _upload(bucket, first.data)
    before = time.time() * 1000

    created = ml.create_model(
        ml.Model(display_name=name, tags=["digits", "v1"], model_format=_source(app, uri)),
        app=app,
    )
    created.wait_for_unlocked(30)
    assert not created.locked
    assert created.validation_error is None
    assert created.display_name == name
    assert created.tags == ["digits", "v1"]
    assert created.model_hash == hashlib.sha256(first.data).hexdigest()
    assert created.model_format.size_bytes == str(len(first.data))
    assert created.model_format.model_source.gcs_tflite_uri == uri  # gs://, not the signed URL
    assert created.etag and created.published is False
    assert before - 1000 <= created.create_time <= created.update_time <= time.time() * 1000

    published = ml.publish_model(created.model_id, app=app)
    assert published.published is True
    assert published.etag != created.etag
    assert ml.get_model(created.model_id, app=app).published is True

    def listed(list_filter: str) -> list[str]:
        page = ml.list_models(list_filter=list_filter, app=app)
        return [m.model_id for m in page.iterate_all()]

    assert listed(f"display_name = {name}") == [created.model_id]
    assert listed(f"display_name : {name[:-3]}*") == [created.model_id]
    assert created.model_id in listed("tags: digits AND tags: v1")
    assert created.model_id not in listed("tags: digits AND tags: v2")
    assert created.model_id in listed("state.published = true")
    assert created.model_id not in listed("state.published = false")

    new_uri = _upload(bucket, second.data)
    update = ml.get_model(created.model_id, app=app)
    update.model_format = _source(app, new_uri)
    update.tags = ["digits", "v2"]
    updated = ml.update_model(update, app=app)
    updated.wait_for_unlocked(30)
    assert updated.validation_error is None
    assert updated.model_hash == hashlib.sha256(second.data).hexdigest() != created.model_hash
    assert updated.model_format.model_source.gcs_tflite_uri == new_uri
    assert updated.tags == ["digits", "v2"]
    assert updated.published is True  # a new file keeps the model published
    assert updated.update_time > published.update_time

    unpublished = ml.unpublish_model(created.model_id, app=app)
    assert unpublished.published is False
    assert created.model_id in listed("state.published = false")

    ml.delete_model(created.model_id, app=app)
    with pytest.raises(exceptions.NotFoundError):
        ml.get_model(created.model_id, app=app)
    assert listed(f"display_name = {name}") == []


def test_a_model_without_a_file_is_created_at_once(emulator, app):
    name = _unique("no_file")
    with recorded_calls(emulator) as calls:
        model = ml.create_model(ml.Model(display_name=name, tags=["x"]), app=app)
    assert calls == ["firebaseml.projects.models.create"]
    assert not model.locked and model.display_name == name and model.tags == ["x"]
    # The service's text (firebase-admin's and firebase-admin-node's integration tests).
    assert model.validation_error == "No model file has been uploaded."
    assert model.model_format is None and model.model_hash is None and not model.published


def test_create_and_update_answer_done_once_the_file_is_validated(
    emulator, app, bucket, tflite_files
):
    first, second = tflite_files
    model = ml.Model(
        display_name=_unique("done"), model_format=_source(app, _upload(bucket, first.data))
    )
    with recorded_calls(emulator) as calls:
        created = ml.create_model(model, app=app)
    # No polling and no re-read: the POST answered a done operation with the validated model.
    assert calls == ["firebaseml.projects.models.create"]
    assert not created.locked and created.validation_error is None
    assert created.model_hash == hashlib.sha256(first.data).hexdigest()

    update = ml.get_model(created.model_id, app=app)
    update.model_format = _source(app, _upload(bucket, second.data))
    with recorded_calls(emulator) as calls:
        updated = ml.update_model(update, app=app)
    assert calls == ["firebaseml.projects.models.patch"]
    assert not updated.locked and updated.model_hash == hashlib.sha256(second.data).hexdigest()

    # On the wire: done at once, so no name to poll (firebase-admin's handle_operation).
    status, op = admin(
        emulator.env,
        "POST",
        f"/v1beta2/projects/{PROJECT}/models",
        {
            "displayName": _unique("raw"),
            "tfliteModel": {"gcsTfliteUri": _upload(bucket, first.data)},
        },
    )
    assert status == 200 and set(op) == {"done", "response"} and op["done"] is True
    assert (
        op["response"]["@type"].endswith("v1beta2.Model")
        and "activeOperations" not in op["response"]
    )


def test_a_file_that_is_not_a_tflite_flatbuffer_is_an_invalid_flatbuffer(app, bucket):
    for data in (
        b"This is not a tflite file.\n",  # firebase-admin's tests/data/invalid_model.tflite
        b"PK\x03\x04 a zip file",
        b"\x1c\x00\x00\x00TFL3" + b"\x07" * 64,  # TF Lite's file identifier, broken flatbuffer
    ):
        uri = _upload(bucket, data)
        model = _create(app, _unique("invalid"), uri)
        assert model.validation_error == "Invalid flatbuffer format"
        # The model names the file it was given, but has no size and nothing to download.
        assert model.model_format.model_source.gcs_tflite_uri == uri
        assert model.model_format.size_bytes is None and model.model_hash is None


def test_other_files_the_service_cannot_use_end_with_a_validation_error(
    emulator, app, bucket, tflite_files
):
    missing_uri = f"gs://{bucket.name}/exports/missing/model.tflite"
    missing = _create(app, _unique("missing"), missing_uri)
    assert missing.validation_error == (
        f"The model file {missing_uri} does not exist (or its bucket does not)."
    )

    # One byte over the limit (written by the core, to keep the test fast).
    big_uri = f"gs://{bucket.name}/exports/big/model.tflite"
    emulator.backend.blobs.write(big_uri, tflite_files[0].data.ljust(MAX_MODEL_BYTES + 1, b"\0"))
    big = _create(app, _unique("too_big"), big_uri)
    assert f"at most {MAX_MODEL_BYTES} bytes (40 MB)" in big.validation_error


def test_a_failed_update_names_the_new_file_and_keeps_serving_the_old_one(
    app, bucket, tflite_files
):
    good = _create(app, _unique("keeps_file"), _upload(bucket, tflite_files[0].data))
    update = ml.get_model(good.model_id, app=app)
    bad_uri = _upload(bucket, b"not a model")
    update.model_format = _source(app, bad_uri)
    after = ml.update_model(update, app=app)
    after.wait_for_unlocked(30)
    assert after.validation_error == "Invalid flatbuffer format"
    assert after.model_format.model_source.gcs_tflite_uri == bad_uri
    assert after.model_format.size_bytes is None
    # modelHash "will change if a new file is available for download" (REST reference): the
    # previous file still is, and stays publishable.
    assert after.model_hash == good.model_hash
    assert ml.publish_model(good.model_id, app=app).published


def test_a_taken_display_name_fails_the_operation(app):
    name = _unique("taken")
    ml.create_model(ml.Model(display_name=name), app=app)
    with pytest.raises(exceptions.AlreadyExistsError) as excinfo:
        ml.create_model(ml.Model(display_name=name), app=app)
    assert str(excinfo.value) == f"Model '{name}' already exists"
    assert excinfo.value.http_response is None  # an operation error, not an HTTP one

    other = ml.create_model(ml.Model(display_name=_unique("other")), app=app)
    other.display_name = name
    with pytest.raises(exceptions.AlreadyExistsError) as excinfo:
        ml.update_model(other, app=app)
    assert str(excinfo.value) == f"Model '{name}' already exists"


def test_a_missing_model_is_not_found_in_the_services_words(app):
    model = ml.create_model(ml.Model(display_name=_unique("gone")), app=app)
    ml.delete_model(model.model_id, app=app)
    name = f"projects/{PROJECT}/models/{model.model_id}"
    model.tags = ["again"]
    for change in (ml.update_model, ml.publish_model, ml.unpublish_model):
        argument = model if change is ml.update_model else model.model_id
        with pytest.raises(exceptions.NotFoundError) as excinfo:
            change(argument, app=app)
        assert str(excinfo.value) == f"Model '{name}' was not found"
        assert excinfo.value.http_response is None  # an operation error
    for read in (ml.get_model, ml.delete_model):
        with pytest.raises(exceptions.NotFoundError) as excinfo:
            read(model.model_id, app=app)
        assert str(excinfo.value) == "Requested entity was not found."
        assert excinfo.value.http_response.status_code == 404


def test_only_a_verified_model_can_be_published(app, bucket, tflite_files):
    no_file = ml.create_model(ml.Model(display_name=_unique("unverified")), app=app)
    invalid = _create(app, _unique("invalid_file"), _upload(bucket, b"not a model"))
    for model in (no_file, invalid):
        with pytest.raises(exceptions.FailedPreconditionError) as excinfo:
            ml.publish_model(model.model_id, app=app)
        assert str(excinfo.value) == "Cannot publish a model that is not verified."
        assert excinfo.value.http_response is None  # an operation error
    assert ml.unpublish_model(no_file.model_id, app=app).published is False
    fixed = ml.get_model(invalid.model_id, app=app)
    fixed.model_format = _source(app, _upload(bucket, tflite_files[0].data))
    ml.update_model(fixed, app=app).wait_for_unlocked(30)
    assert ml.publish_model(invalid.model_id, app=app).published


def test_a_malformed_request_is_the_generic_400_with_details(emulator, app):
    with pytest.raises(exceptions.InvalidArgumentError) as excinfo:
        ml.list_models(list_filter="InvalidFilterParam=123", app=app)
    assert str(excinfo.value) == "Request contains an invalid argument."
    assert excinfo.value.http_response.status_code == 400
    # What is wrong is in a google.rpc.BadRequest detail.
    status, body = admin(
        emulator.env, "GET", f"/v1beta2/projects/{PROJECT}/models?filter=InvalidFilterParam%3D123"
    )
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    (detail,) = body["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = detail["fieldViolations"]
    assert violation["field"] == "filter"
    assert "unknown field 'InvalidFilterParam'" in violation["description"]


def test_model_ids_are_numbers(app):
    # firebase-admin lets 'invalid-model-id' through; the service refuses it (the node SDK's
    # integration test expects invalid-argument for get, update, publish and delete).
    for call in (ml.get_model, ml.publish_model, ml.delete_model):
        with pytest.raises(exceptions.InvalidArgumentError) as excinfo:
            call("invalid-model-id", app=app)
        assert excinfo.value.http_response.status_code == 400


def test_display_names_and_tags_follow_the_sdks_rule(emulator, app):
    # firebase-admin checks [A-Za-z0-9_-]{1,32} "to match changed backend requirements"
    # (firebase-admin-python#459); the node SDK's integration test creates 'node-integ-list1'.
    for name in (_unique("digits-v2"), f"9lives_{uuid.uuid4().hex[:6]}"):
        assert (
            ml.create_model(ml.Model(display_name=name, tags=["a-b"]), app=app).display_name == name
        )
    with recorded_calls(emulator) as calls:
        for bad in ("a" * 33, "has space", ""):
            with pytest.raises(ValueError, match="Display name format is invalid"):
                ml.Model(display_name=bad)
        with pytest.raises(ValueError, match="Tag format is invalid"):
            ml.Model(display_name="ok", tags=["bad tag"])
    assert calls == []
    # The service refuses them too (what the SDK stops, seen on the wire).
    for bad in ("a" * 33, "has space", "", "Invalid Name#*^!"):
        status, body = admin(
            emulator.env, "POST", f"/v1beta2/projects/{PROJECT}/models", {"displayName": bad}
        )
        assert status == 400 and body["error"]["message"] == "Request contains an invalid argument."
        assert body["error"]["details"][0]["fieldViolations"][0]["field"] == "model.display_name"


def test_list_filters_and_paging(app, bucket, tflite_files):
    uri = _upload(bucket, tflite_files[0].data)
    tag = _unique("t")
    stem = _unique("flt")
    alpha1 = _create(app, f"{stem}_alpha1", uri, [tag, "alpha"])
    alpha2 = _create(app, f"{stem}_alpha2", uri, [tag, "alpha", "second"])
    beta = _create(app, f"{stem}_beta", uri, [tag])
    ml.publish_model(alpha2.model_id, app=app)

    def ids(list_filter: str) -> set[str]:
        return {m.model_id for m in ml.list_models(list_filter=list_filter, app=app).iterate_all()}

    everyone = {alpha1.model_id, alpha2.model_id, beta.model_id}
    assert ids(f"tags: {tag}") == everyone
    assert ids(f"display_name = {stem}_beta") == {beta.model_id}
    assert ids(f"display_name != {stem}_beta AND tags: {tag}") == {
        alpha1.model_id,
        alpha2.model_id,
    }
    assert ids(f"display_name : {stem}_alpha*") == {alpha1.model_id, alpha2.model_id}
    assert ids(f"tags: {tag} AND tags: alpha AND tags: second") == {alpha2.model_id}
    assert ids(f"tags: '{tag}' AND state.published = true") == {alpha2.model_id}
    assert ids(f'tags: "{tag}" AND state.published = false') == {alpha1.model_id, beta.model_id}
    assert ids(f"tags: {tag} AND (tags: second OR display_name = {stem}_beta)") == {
        alpha2.model_id,
        beta.model_id,
    }
    assert ids(f"tags: {tag} AND NOT tags: alpha") == {beta.model_id}

    first = ml.list_models(list_filter=f"tags: {tag}", page_size=2, app=app)
    assert len(first.models) == 2 and first.has_next_page
    second = first.get_next_page()
    assert len(second.models) == 1 and not second.has_next_page
    assert {m.model_id for m in first.models + second.models} == everyone

    for bad in ("size > 3", "tags: a AND", "display_name : a*b*", "state.published = maybe"):
        with pytest.raises(exceptions.InvalidArgumentError, match="invalid argument"):
            ml.list_models(list_filter=bad, app=app)


# Validation held longer than the service waits before answering (0.2 s here).
SLOW_VALIDATION = (
    automl_v1.register,
    functools.partial(firebase_ml.register, lock_wait_seconds=0.2, answer_within_seconds=0.2),
)


def test_a_model_is_locked_while_its_file_is_validated(tmp_path, emulator_factory, tflite_files):
    server = emulator_factory(tmp_path / "data", facades=SLOW_VALIDATION)
    with patched_environ(server.env):
        app = firebase_app(TARGET)
        bucket = storage_client(server.env).create_bucket("locking")
        uri = _upload(bucket, tflite_files[0].data)
        server.faults.arm(VALIDATE_STEP, "HOLD")
        try:
            model = ml.create_model(
                ml.Model(display_name="locked_model", model_format=_source(app, uri)), app=app
            )
            assert model.locked
            operation = model.as_dict()["activeOperations"][0]
            assert operation["metadata"]["name"] == f"projects/{PROJECT}/models/{model.model_id}"
            assert ml.get_model(model.model_id, app=app).locked
            # A change waits for the lock (0.2 s here), then fails.
            with pytest.raises(exceptions.FailedPreconditionError, match="is locked by operation"):
                ml.publish_model(model.model_id, app=app)
        finally:
            server.faults.clear(VALIDATE_STEP)
        model.wait_for_unlocked(30)
        assert not model.locked and model.model_hash
        status, done = admin(server.env, "GET", f"/v1beta2/{operation['name']}")
        assert status == 200 and done["done"] is True
        assert done["response"]["modelHash"] == model.model_hash
        assert ml.publish_model(model.model_id, app=app).published


def test_restart_keeps_models_and_unlocks_interrupted_validation(
    tmp_path, emulator_factory, tflite_files
):
    data_dir = tmp_path / "data"
    first = emulator_factory(data_dir, facades=SLOW_VALIDATION)
    with patched_environ(first.env):
        app = firebase_app(TARGET)
        bucket = storage_client(first.env).create_bucket("restarts")
        uri = _upload(bucket, tflite_files[0].data)
        kept = _create(app, "kept_model", uri, ["keep"])
        kept = ml.publish_model(kept.model_id, app=app)
        first.faults.arm(VALIDATE_STEP, "HOLD")
        held = ml.create_model(
            ml.Model(display_name="held_model", model_format=_source(app, uri)), app=app
        )
        assert held.locked
    first.stop()  # interrupts the held validation

    second = emulator_factory(data_dir)
    with patched_environ(second.env):
        app = firebase_app(TARGET)
        again = ml.get_model(kept.model_id, app=app)
        assert again.as_dict() == kept.as_dict()
        assert [m.model_id for m in ml.list_models("tags: keep", app=app).iterate_all()] == [
            kept.model_id
        ]
        interrupted = ml.get_model(held.model_id, app=app)
        assert not interrupted.locked
        assert "was interrupted" in interrupted.validation_error
        # Sending the file again validates it.
        update = ml.get_model(held.model_id, app=app)
        update.model_format = _source(app, uri)
        fixed = ml.update_model(update, app=app)
        fixed.wait_for_unlocked(30)
        assert fixed.validation_error is None and fixed.model_hash == kept.model_hash


def test_devices_download_the_copy_that_was_validated(emulator, app, bucket, tflite_files):
    first, second = tflite_files
    path = f"exports/{uuid.uuid4().hex[:8]}/model.tflite"
    model = _create(app, _unique("download"), _upload(bucket, first.data, path))
    url = f"{emulator.env[FIREBASE_ML_ENV]}/v1beta2/projects/{PROJECT}/models/{model.model_id}"
    assert json_call(f"{url}:download", "GET")[0] == 404  # not published: no device has it

    ml.publish_model(model.model_id, app=app)
    status, answer = json_call(f"{url}:download", "GET")
    assert status == 200 and answer["modelFormat"] == "TFLITE"
    assert answer["sizeBytes"] == str(len(first.data)) and answer["expireTime"].endswith("Z")
    # The file in the original location changes; apps keep the validated one until an update
    # ("it is necessary to call UpdateModel for ML to pick up and validate the updated file").
    bucket.blob(path).upload_from_string(second.data)
    with urllib.request.urlopen(answer["downloadUri"], timeout=10) as response:
        assert response.read() == first.data
    assert hashlib.sha256(first.data).hexdigest() == model.model_hash

    ml.delete_model(model.model_id, app=app)
    assert json_call(f"{url}:download", "GET")[0] == 404


def _violation(error: dict) -> dict:
    """The one field violation of a 400 answer (its google.rpc.BadRequest detail)."""
    assert error["error"]["message"] == "Request contains an invalid argument."
    (detail,) = error["error"]["details"]
    (violation,) = detail["fieldViolations"]
    return violation


def test_rest_details_firebase_admin_does_not_reach(emulator, bucket, tflite_files):
    env = emulator.env
    base = f"/v1beta2/projects/{PROJECT}/models"
    uri = _upload(bucket, tflite_files[0].data)
    status, op = admin(
        env, "POST", base, {"displayName": _unique("rest"), "tfliteModel": {"gcsTfliteUri": uri}}
    )
    assert status == 200 and op["done"] is True
    model = op["response"]
    assert model["tfliteModel"] == {
        "gcsTfliteUri": uri,
        "sizeBytes": str(len(tflite_files[0].data)),
    }
    model_name = model["name"]

    status, error = admin(env, "PATCH", f"/v1beta2/{model_name}?updateMask=createTime", {})
    assert status == 400 and "createTime cannot be updated" in _violation(error)["description"]
    # What depends on the model's state fails the operation (HTTP 200, google.rpc.Status codes).
    status, op = admin(env, "PATCH", f"/v1beta2/{model_name}", {"etag": "stale", "tags": []})
    assert status == 200 and op["done"] is True and op["error"]["code"] == 10  # ABORTED
    status, op = admin(
        env,
        "POST",
        base,
        {"displayName": model["displayName"], "tfliteModel": {"gcsTfliteUri": uri}},
    )
    assert status == 200 and op == {
        "done": True,
        "error": {"code": 6, "message": f"Model '{model['displayName']}' already exists"},
    }
    expired = (
        f"https://storage.googleapis.com/{bucket.name}/m.tflite?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Date=20200101T000000Z&X-Goog-Expires=600&X-Goog-Signature=00"
    )
    status, error = admin(
        env, "POST", base, {"displayName": _unique("exp"), "tfliteModel": {"gcsTfliteUri": expired}}
    )
    assert status == 400 and "signed URL expired" in _violation(error)["description"]
    status, error = admin(env, "POST", base, {"displayName": _unique("x"), "size": 3})
    assert status == 400 and error["error"]["message"] == (
        "Invalid JSON payload received. Unknown name \"size\" at 'model': Cannot find field."
    )
    # A documented source the emulator cannot read: refused by name, not 501.
    automl = {"automlModel": f"projects/{PROJECT}/locations/us-central1/models/ICN123"}
    status, error = admin(env, "POST", base, {"displayName": _unique("a"), "tfliteModel": automl})
    assert status == 400 and error["error"]["status"] == "FAILED_PRECONDITION"
    assert "gcsTfliteUri" in error["error"]["message"]
    status, error = admin(env, "GET", f"/v1beta2/projects/{PROJECT}/operations/123")
    assert status == 404 and error["error"]["message"] == "Requested entity was not found."


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", {"a", "b", "c"}),
        ("tags: x OR tags: y AND tags: z", {"b"}),  # OR binds tighter: (x OR y) AND z
        ("(tags: x OR tags: y) tags: z", {"b"}),  # side by side means AND
        ("-tags: x", {"b", "c"}),
        ("NOT (tags: x OR tags: y)", {"c"}),
        ("displayName = a", {"a"}),
        ("display_name != a AND state.published != true", {"c"}),
    ],
)
def test_filter_precedence_and_negation(text, matches):
    models = {
        "a": Filterable("a", ("x",), True),
        "b": Filterable("b", ("y", "z"), True),
        "c": Filterable("c", (), False),
    }
    predicate = parse_filter(text)
    assert {name for name, model in models.items() if predicate(model)} == matches
