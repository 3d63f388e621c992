"""What only the firebase_ml Registry adapter does: tags and manifest, Firebase's own rules,
service-side validation errors, and the firebase_admin app wiring (emulator vs Google)."""

import hashlib
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from firebase_admin import credentials as firebase_credentials

from components.cloud.clients import (
    EMULATOR_ENV,
    FIREBASE_ML_ENV,
    CloudTarget,
    firebase_app,
    firebase_ml_module,
)
from components.cloud.errors import CloudError
from components.cloud.firebase_ml import FirebaseMlRegistry
from components.cloud.registry import (
    InvalidPublication,
    ModelFile,
    PublishedModelSpec,
    parse_threshold_tag,
    threshold_tag,
)
from tests.fixtures.calls import recorded_calls
from tests.fixtures.emulator import PROJECT, storage_client

TARGET = CloudTarget(stack="local", project=PROJECT, emulator=True)
ml = firebase_ml_module()


@pytest.fixture(scope="module")
def bucket(emulator):
    return storage_client(emulator.env).create_bucket(f"fbreg-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def registry(bucket) -> FirebaseMlRegistry:
    return FirebaseMlRegistry(TARGET, bucket.name)


def _name() -> str:
    return f"fb_{uuid.uuid4().hex[:10]}"


def test_threshold_is_a_tag_and_labels_are_in_the_manifest(registry, bucket, tflite_files):
    data = tflite_files[0].data
    name = _name()
    spec = PublishedModelSpec(
        name, ModelFile.from_bytes(data), ("digits",), True, 0.82, ("zero", "one", "two")
    )
    published = registry.apply(spec)

    model = ml.get_model(published.name.rsplit("/", 1)[-1], app=firebase_app(TARGET))
    assert model.tags == ["digits", "threshold-0_82"]
    assert model.published and model.display_name == name
    stored = json.loads(bucket.blob(f"firebase-ml/models/{name}/manifest.json").download_as_bytes())
    assert stored == {
        "displayName": name,
        "tags": ["digits"],
        "published": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "sizeBytes": len(data),
        "threshold": 0.82,
        "labels": ["zero", "one", "two"],
        "modelId": model.model_id,
        "modelHash": model.model_hash,
    }
    # The bytes were staged beside the manifest for Firebase to read.
    assert bucket.blob(f"firebase-ml/models/{name}/model.tflite").download_as_bytes() == data

    assert registry.delete(name) is True
    assert bucket.get_blob(f"firebase-ml/models/{name}/manifest.json") is None
    assert bucket.get_blob(f"firebase-ml/models/{name}/model.tflite") is None


@pytest.mark.parametrize("display_name", ["digits-v2", "9lives"])
def test_firebase_display_name_rule_applies_before_any_request(
    emulator, registry, tflite_files, display_name
):
    spec = PublishedModelSpec(display_name, ModelFile.from_bytes(tflite_files[0].data))
    with recorded_calls(emulator) as calls, pytest.raises(InvalidPublication, match="Firebase ML"):
        registry.apply(spec)
    assert calls == []


def test_a_file_firebase_rejects_creates_nothing_and_an_update_keeps_the_old_file(
    registry, bucket, tflite_files
):
    broken = b"\x1c\x00\x00\x00TFL3" + b"\x07" * 64  # TF Lite's identifier, broken flatbuffer
    name = _name()
    with pytest.raises(CloudError, match=r"rejected the model file .*: Invalid flatbuffer format"):
        registry.apply(PublishedModelSpec(name, ModelFile.from_bytes(broken)))
    assert registry.read(name) is None

    good = registry.apply(PublishedModelSpec(name, ModelFile.from_bytes(tflite_files[0].data)))
    with pytest.raises(CloudError, match="apps keep getting the previous file"):
        registry.apply(PublishedModelSpec(name, ModelFile.from_bytes(broken)))
    after = registry.read(name)
    assert after.model_hash == good.model_hash and after.sha256 == good.sha256


def test_threshold_tags_round_trip():
    assert threshold_tag(0.82) == "threshold-0_82"
    assert threshold_tag(0.5) == "threshold-0_5"
    assert threshold_tag(1.0) == "threshold-1_0"
    assert threshold_tag(0.8234) == "threshold-0_8234"
    assert threshold_tag(0.0) == "threshold-0_0"
    for value in (0.82, 0.5, 1.0, 0.8234, 0.0):
        assert parse_threshold_tag(["x", threshold_tag(value)]) == value
    assert parse_threshold_tag(["x"]) is None
    assert parse_threshold_tag(["threshold-0_1", "threshold-0_2"]) is None


def _service_account_file(path, project: str):
    """A service-account key file with a key made here: loads offline, grants nothing."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project,
                "private_key_id": "test",
                "private_key": pem,
                "client_email": f"publisher@{project}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_google_stacks_get_googles_url_and_their_default_credentials(monkeypatch, tmp_path):
    for key in EMULATOR_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    target = CloudTarget(stack="prod", project="edge-labeler-prod")
    with pytest.raises(CloudError, match="connecting to Firebase ML for stack 'prod'"):
        firebase_app(target)

    keyfile = _service_account_file(tmp_path / "key.json", "edge-labeler-prod")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(keyfile))
    app = firebase_app(target)  # a fresh app: the failed one was not kept
    assert firebase_app(target) is app
    assert isinstance(app.credential, firebase_credentials.ApplicationDefault)
    assert app.credential.get_credential().signer_email.startswith("publisher@")
    service = ml._get_ml_service(app)
    assert service._client.base_url == (
        "https://firebaseml.googleapis.com/v1beta2/projects/edge-labeler-prod/"
    )
    assert app.project_id == "edge-labeler-prod" and "google" in app.name

    monkeypatch.setenv(FIREBASE_ML_ENV, "http://127.0.0.1:9")
    with pytest.raises(CloudError, match="is a Google Cloud stack"):
        firebase_app(target)


def test_emulator_stacks_need_the_emulator_environment(monkeypatch):
    monkeypatch.delenv(FIREBASE_ML_ENV, raising=False)
    with pytest.raises(CloudError, match="EDGE_LABELER_FIREBASE_ML_ENDPOINT is not set"):
        firebase_app(CloudTarget(stack="local", project=PROJECT, emulator=True))


def test_each_emulator_gets_its_own_app_and_signing_needs_no_google_credentials(emulator):
    app = firebase_app(TARGET)
    assert emulator.env[FIREBASE_ML_ENV] in app.name
    credential = app.credential.get_credential()
    assert credential.signer_email.endswith(".iam.gserviceaccount.com")
    assert len(credential.sign_bytes(b"x")) == 256  # RSA-2048, made in memory
    assert "PRIVATE" not in repr(credential) and "PRIVATE" not in app.name
