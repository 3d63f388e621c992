"""Adoption: cloud resources made by hand (out of band, with Google's client libraries against
the emulator) are imported through the SDK's provider host as `pulumi up` imports a resource
with the `import_` option (`edge-labeler:adopt`): Read with the program's inputs and no state,
then Check and Diff. No changes: the next `up` leaves them as they are. Changes: the engine
imports, then updates (what the spec says wins), and the `up` after that changes nothing."""

import hashlib

import pytest
from google.cloud import automl_v1

from components.cloud.clients import (
    REGISTRY,
    STORAGE,
    automl_client,
    firebase_app,
    firebase_ml_module,
    storage_client,
)
from components.cloud.storage import BucketAdmin, ObjectStore
from components.providers.bucket import BucketProvider, bucket_inputs
from components.providers.dataset import DatasetProvider, dataset_inputs
from components.providers.publication import PublicationProvider
from components.spec import load_specs
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import LOCATION, PROJECT
from tests.providers.conftest import SPECS


def _specs(project, dataset="adopted"):
    write_zip(project / "data" / "adopted.zip", digit_images(10, ("zero", "one")))
    directory = project / "specs-adopted"
    directory.mkdir(exist_ok=True)
    (directory / "all.yaml").write_text(SPECS.format(dataset=dataset, zip="../data/adopted.zip"))
    return load_specs(directory)


def test_a_bucket_made_by_hand_is_imported_without_changes(host, project, target):
    spec = _specs(project).buckets["data"]
    inputs = bucket_inputs(spec, target)
    name = "hand-made-bucket"
    inputs = {**inputs, "bucketName": name}
    storage_client(target).create_bucket(name)  # as `gcloud storage buckets create` would
    urn = host.urn("edge-labeler:Bucket", "hand-made")
    props = host.inputs(BucketProvider(), inputs)
    checked, failures = host.check(urn, props)
    assert failures == []
    outputs, read, diff = host.import_(urn, name, checked)
    assert diff.changes is False
    assert outputs["bucketName"] == read["bucketName"] == name
    assert read["storageClass"] == "STANDARD"  # read live, not copied from the program


def test_a_bucket_that_differs_from_its_spec_is_imported_then_updated(host, project, target):
    spec = _specs(project).buckets["data"]
    name = "hand-made-labelled"
    bucket = storage_client(target).create_bucket(name)
    bucket.labels = {"team": "vision"}  # labelled by hand (the emulator keeps labels on patch)
    bucket.patch()
    urn = host.urn("edge-labeler:Bucket", "hand-made-labelled")
    props = host.inputs(BucketProvider(), {**bucket_inputs(spec, target), "bucketName": name})
    checked, _ = host.check(urn, props)
    outputs, read, diff = host.import_(urn, name, checked)
    assert read["labels"] == {"team": "vision"}  # as it is, not as the spec says
    assert diff.changes is True and diff.replaces == ()  # an update, never a replacement
    updated = host.update(urn, name, outputs, checked)
    assert host.diff(urn, name, updated, checked).changes is False
    assert BucketAdmin(target, name).get()["labels"] == {}


def test_a_dataset_made_in_the_console_is_imported_without_changes(host, project, target, bucket):
    spec = _specs(project).datasets["adopted"]
    client = automl_client(target)
    made = client.create_dataset(
        parent=f"projects/{PROJECT}/locations/{LOCATION}",
        dataset=automl_v1.Dataset(
            display_name="adopted",
            image_classification_dataset_metadata=automl_v1.ImageClassificationDatasetMetadata(
                classification_type=automl_v1.ClassificationType.MULTICLASS
            ),
        ),
    ).result()
    urn = host.urn("edge-labeler:Dataset", "adopted-dataset")
    props = host.inputs(DatasetProvider(), dataset_inputs(spec, target, bucket, root=project))
    checked, failures = host.check(urn, props)
    assert failures == []
    outputs, read, diff = host.import_(urn, made.name, checked)
    assert diff.changes is False
    assert outputs["datasetName"] == made.name
    assert outputs["fingerprint"] == checked["fingerprint"]  # the spec's content, as checked
    assert "fingerprint" not in read  # computed (by check), never an input
    with pytest.raises(AssertionError, match="does not exist"):
        host.import_(urn, made.name + "0", checked)


def test_a_firebase_model_uploaded_by_hand_is_imported_then_serves_the_gated_file(
    host, target, bucket, tflite_files
):
    hand, gated = tflite_files
    store = ObjectStore(target, bucket)
    store.write("by-hand/model.tflite", hand.data)
    store.write("models/digits/export/model.tflite", gated.data)
    # Uploaded in the console (firebase-admin, as the console's upload does over REST).
    ml = firebase_ml_module()
    app = firebase_app(target)
    source = ml.TFLiteGCSModelSource(store.uri("by-hand/model.tflite"), app=app)
    model = ml.create_model(
        ml.Model(display_name="adopted_digits", model_format=ml.TFLiteFormat(model_source=source)),
        app=app,
    )
    ml.publish_model(model.model_id, app=app)
    registry_name = f"projects/{PROJECT}/models/{model.model_id}"

    inputs = {
        "name": "digits",
        "cloud": target.as_inputs(STORAGE, REGISTRY),
        "target": "firebase-ml",
        "displayName": "adopted_digits",
        "tags": [],
        "published": True,
        "model": "digits",
        "registryBucket": bucket,
        "recordBucket": bucket,
        "modelFile": store.uri("models/digits/export/model.tflite"),
        "modelSha256": hashlib.sha256(gated.data).hexdigest(),
        "modelSize": len(gated.data),
        "fingerprint": "sha256:" + "1" * 64,
        "threshold": 0.5,
        "labels": list(gated.labels),
    }
    urn = host.urn("edge-labeler:Publication", "digits-publication")
    checked, failures = host.check(urn, host.inputs(PublicationProvider(), inputs))
    assert failures == []
    outputs, read, diff = host.import_(urn, registry_name, checked)
    assert outputs["registryName"] == registry_name
    assert read.get("modelSha256") is None  # a file this tool did not send (None: dropped)
    assert diff.changes is True and diff.replaces == ()  # adopted, then updated in place
    updated = host.update(urn, registry_name, outputs, checked)
    assert updated["registryName"] == registry_name  # the same Firebase model, now gated
    _, refreshed = host.read(urn, registry_name, updated)
    assert refreshed["modelSha256"] == inputs["modelSha256"]
    assert host.diff(urn, registry_name, refreshed, checked).changes is False
