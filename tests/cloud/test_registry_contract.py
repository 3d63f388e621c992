"""The Registry contract: one suite, run against both adapters (firebase_ml and storage).

Everything goes through the emulator with the real clients; what the emulator served is
recorded by call name (tests/fixtures/calls.py) to show what was — and was not — sent.
"""

import hashlib
import uuid
from dataclasses import dataclass

import pytest

from components.cloud.adapters import open_registry
from components.cloud.clients import CloudTarget, firebase_app, firebase_ml_module
from components.cloud.errors import CloudError
from components.cloud.registry import (
    InvalidPublication,
    ModelFile,
    PublishedModelSpec,
    Registry,
)
from emulator.server import EmulatorServer
from tests.fixtures.calls import WRITES, recorded_calls
from tests.fixtures.emulator import PROJECT, storage_client

TARGET = CloudTarget(stack="local", project=PROJECT, emulator=True)
LABELS = ("zero", "one", "two")


@pytest.fixture(scope="module")
def bucket_name(emulator: EmulatorServer) -> str:
    return storage_client(emulator.env).create_bucket(f"registry-{uuid.uuid4().hex[:12]}").name


@dataclass
class Adapter:
    """A registry under test, with what the suite needs to look behind it."""

    kind: str
    registry: Registry
    server: EmulatorServer
    bucket_name: str

    def file_version(self, display_name: str) -> str:
        """Changes exactly when a model file is sent to the registry (upload or validation)."""
        if self.kind == "storage":
            blob = self._bucket().get_blob(f"models/{display_name}/model.tflite")
            return str(blob.generation) if blob else ""
        published = self.registry.read(display_name)
        assert published is not None
        operations = self.server.backend.operations.list_operations(
            f"projects/{PROJECT}", works_on=published.name
        )
        return str(len(operations))  # one validation operation per file sent

    def replace_file_by_hand(self, display_name: str, data: bytes) -> None:
        """What someone does outside this tool: the registry serves another file."""
        if self.kind == "storage":
            self._bucket().blob(f"models/{display_name}/model.tflite").upload_from_string(data)
            return
        ml = firebase_ml_module()
        app = firebase_app(TARGET)
        self._bucket().blob(f"by-hand/{display_name}.tflite").upload_from_string(data)
        source = ml.TFLiteGCSModelSource(
            f"gs://{self.bucket_name}/by-hand/{display_name}.tflite", app=app
        )
        model = next(
            ml.list_models(list_filter=f"display_name = {display_name}", app=app).iterate_all()
        )
        model.model_format = ml.TFLiteFormat(model_source=source)
        ml.update_model(model, app=app).wait_for_unlocked(30)

    def _bucket(self):
        return storage_client(self.server.env).bucket(self.bucket_name)


@pytest.fixture(params=["firebase_ml", "storage"])
def adapter(request, emulator: EmulatorServer, bucket_name: str) -> Adapter:
    registry = open_registry(request.param, TARGET, bucket_name)
    return Adapter(request.param, registry, emulator, bucket_name)


def _name() -> str:
    return f"m_{uuid.uuid4().hex[:10]}"


def _spec(name: str, data: bytes, **changes) -> PublishedModelSpec:
    values = {
        "display_name": name,
        "model": ModelFile.from_bytes(data),
        "tags": ("digits", "edge"),
        "published": True,
        "threshold": 0.82,
        "labels": LABELS,
    }
    return PublishedModelSpec(**{**values, **changes})


def test_apply_creates_and_read_returns_the_same(adapter, tflite_files):
    data = tflite_files[0].data
    name = _name()
    published = adapter.registry.apply(_spec(name, data))

    assert published.registry == adapter.kind
    assert published.display_name == name
    assert published.sha256 == hashlib.sha256(data).hexdigest()
    assert published.size_bytes == len(data)
    assert published.tags == ("digits", "edge")
    assert published.published is True
    assert published.threshold == 0.82
    assert published.labels == LABELS
    assert published.version and published.update_time and published.model_hash
    assert adapter.registry.read(name) == published


def test_applying_the_same_spec_again_sends_nothing(adapter, tflite_files):
    name = _name()
    spec = _spec(name, tflite_files[0].data)
    first = adapter.registry.apply(spec)
    version = adapter.file_version(name)

    with recorded_calls(adapter.server) as calls:
        again = adapter.registry.apply(spec)
    assert again == first
    assert adapter.file_version(name) == version
    assert [c for c in calls if c in WRITES] == []


def test_the_same_export_in_cloud_storage_is_not_uploaded_twice(adapter, bucket_name, tflite_files):
    data = tflite_files[0].data
    export = f"exports/{uuid.uuid4().hex[:8]}/model.tflite"
    storage_client(adapter.server.env).bucket(bucket_name).blob(export).upload_from_string(data)
    model = ModelFile.from_gcs(
        f"gs://{bucket_name}/{export}", "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    )
    name = _name()
    first = adapter.registry.apply(_spec(name, data, model=model))
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    version = adapter.file_version(name)

    with recorded_calls(adapter.server) as calls:
        again = adapter.registry.apply(_spec(name, data, model=model))
    assert again == first
    assert adapter.file_version(name) == version
    assert [c for c in calls if c in WRITES] == []


def test_a_new_file_replaces_the_old_one(adapter, tflite_files):
    first_file, second_file = tflite_files
    name = _name()
    first = adapter.registry.apply(_spec(name, first_file.data))
    version = adapter.file_version(name)

    second = adapter.registry.apply(_spec(name, second_file.data))
    assert second.sha256 == hashlib.sha256(second_file.data).hexdigest() != first.sha256
    assert second.model_hash != first.model_hash
    assert second.version != first.version
    assert adapter.file_version(name) != version
    assert second.name == first.name  # the same model, updated
    assert adapter.registry.read(name) == second


def test_tags_threshold_and_labels_change_without_sending_the_file(adapter, tflite_files):
    name = _name()
    data = tflite_files[0].data
    adapter.registry.apply(_spec(name, data))
    version = adapter.file_version(name)

    changed = adapter.registry.apply(
        _spec(name, data, tags=("digits", "beta"), threshold=0.5, labels=("a", "b", "c"))
    )
    assert changed.tags == ("digits", "beta")
    assert changed.threshold == 0.5
    assert changed.labels == ("a", "b", "c")
    assert changed.sha256 == hashlib.sha256(data).hexdigest()
    assert adapter.file_version(name) == version
    assert adapter.registry.read(name) == changed

    no_threshold = adapter.registry.apply(_spec(name, data, threshold=None, tags=()))
    assert no_threshold.threshold is None and no_threshold.tags == ()


def test_unpublish_and_publish_again(adapter, tflite_files):
    name = _name()
    data = tflite_files[0].data
    assert adapter.registry.apply(_spec(name, data, published=False)).published is False
    assert adapter.registry.read(name).published is False
    assert adapter.registry.apply(_spec(name, data, published=True)).published is True
    assert adapter.registry.read(name).published is True
    assert adapter.registry.apply(_spec(name, data, published=False)).published is False


def test_read_of_a_missing_model_is_none_and_delete_is_idempotent(adapter, tflite_files):
    name = _name()
    assert adapter.registry.read(name) is None
    assert adapter.registry.delete(name) is False
    adapter.registry.apply(_spec(name, tflite_files[0].data))
    assert adapter.registry.delete(name) is True
    assert adapter.registry.read(name) is None
    assert adapter.registry.delete(name) is False


def test_an_existing_model_is_adopted_by_display_name(adapter, bucket_name, tflite_files):
    name = _name()
    spec = _spec(name, tflite_files[0].data)
    first = adapter.registry.apply(spec)
    fresh = open_registry(adapter.kind, TARGET, bucket_name)  # e.g. another provider process
    with recorded_calls(adapter.server) as calls:
        adopted = fresh.apply(spec)
    assert adopted == first
    assert "firebaseml.projects.models.create" not in calls


def test_a_file_replaced_by_hand_reads_as_unknown_and_apply_restores_it(adapter, tflite_files):
    first_file, second_file = tflite_files
    name = _name()
    adapter.registry.apply(_spec(name, first_file.data))
    adapter.replace_file_by_hand(name, second_file.data)

    drifted = adapter.registry.read(name)
    assert drifted is not None and drifted.sha256 is None  # refresh sees the drift

    restored = adapter.registry.apply(_spec(name, first_file.data))
    assert restored.sha256 == hashlib.sha256(first_file.data).hexdigest()
    assert adapter.registry.read(name) == restored


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"display_name": "a" * 33}, "1–32 ASCII letters, digits, '_' or '-'.*33 characters"),
        ({"display_name": "has space"}, "displayName 'has space' is not allowed"),
        ({"display_name": ""}, "displayName '' is not allowed"),
        ({"tags": ("fine", "bad tag")}, "tag 'bad tag' is not allowed"),
        ({"tags": ("t" * 33,)}, "tag 'ttt.*33 characters"),
        ({"tags": ("threshold-0_5",)}, "reserved"),
        ({"tags": ("a", "a")}, "duplicates"),
        ({"threshold": 1.5}, "threshold 1.5 is not allowed"),
        ({"labels": ("ok", "")}, "label '' is not allowed"),
        ({"model": ModelFile.from_bytes(b"not a model file")}, "not a TensorFlow Lite model"),
        ({"model": ModelFile.from_gcs("s3://bucket/m.tflite", "0" * 64)}, "not a Cloud Storage"),
        ({"model": ModelFile.from_gcs("gs://b-1/m.tflite", "abc")}, "not a lowercase hex SHA-256"),
    ],
)
def test_bad_input_is_rejected_before_any_request(adapter, tflite_files, changes, message):
    spec = _spec(_name(), tflite_files[0].data, **changes)
    with recorded_calls(adapter.server) as calls, pytest.raises(InvalidPublication, match=message):
        adapter.registry.apply(spec)
    assert calls == []
    assert issubclass(InvalidPublication, CloudError) and issubclass(InvalidPublication, ValueError)


def test_a_missing_export_is_an_error_that_publishes_nothing(adapter, bucket_name, tflite_files):
    name = _name()
    missing = ModelFile.from_gcs(f"gs://{bucket_name}/exports/none/model.tflite", "0" * 64)
    with pytest.raises(CloudError, match="does not exist"):
        adapter.registry.apply(_spec(name, tflite_files[0].data, model=missing))
    assert adapter.registry.read(name) is None
