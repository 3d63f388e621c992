"""What only the storage Registry adapter does: its layout in the bucket, the manifest an app
reads, and object generations as versions."""

import hashlib
import json
import uuid

import pytest

from components.cloud.clients import CloudTarget
from components.cloud.errors import CloudError
from components.cloud.registry import InvalidPublication, ModelFile, PublishedModelSpec
from components.cloud.storage_registry import StorageRegistry
from tests.fixtures.emulator import PROJECT, storage_client

TARGET = CloudTarget(stack="local", project=PROJECT, emulator=True, registry="storage")


@pytest.fixture(scope="module")
def bucket(emulator):
    return storage_client(emulator.env).create_bucket(f"streg-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def registry(bucket) -> StorageRegistry:
    return StorageRegistry(TARGET, bucket.name)


def test_layout_manifest_and_generations(registry, bucket, tflite_files):
    first, second = tflite_files
    name = f"digits-{uuid.uuid4().hex[:6]}"  # '-' is fine here (not for Firebase ML)
    spec = PublishedModelSpec(name, ModelFile.from_bytes(first.data), ("a",), True, 0.7, ("x", "y"))
    published = registry.apply(spec)

    prefix = f"models/{name}/"
    assert sorted(b.name for b in bucket.list_blobs(prefix=prefix)) == [
        prefix + "manifest.json",
        prefix + "model.tflite",
    ]
    model_blob = bucket.get_blob(prefix + "model.tflite")
    assert published.version == str(model_blob.generation)
    assert published.name == f"gs://{bucket.name}/{prefix}model.tflite"
    assert bucket.blob(prefix + "model.tflite").download_as_bytes() == first.data
    manifest = json.loads(bucket.blob(prefix + "manifest.json").download_as_bytes())
    assert manifest == {
        "displayName": name,
        "tags": ["a"],
        "published": True,
        "sha256": hashlib.sha256(first.data).hexdigest(),
        "sizeBytes": len(first.data),
        "threshold": 0.7,
        "labels": ["x", "y"],
        "generation": str(model_blob.generation),
        "updateTime": published.update_time,
    }

    unpublished = registry.apply(
        PublishedModelSpec(name, ModelFile.from_bytes(first.data), ("a",), False, 0.7, ("x", "y"))
    )
    assert unpublished.version == published.version  # the file was not sent again
    assert (
        json.loads(bucket.blob(prefix + "manifest.json").download_as_bytes())["published"] is False
    )

    replaced = registry.apply(PublishedModelSpec(name, ModelFile.from_bytes(second.data)))
    new_blob = bucket.get_blob(prefix + "model.tflite")
    assert replaced.version == str(new_blob.generation) != published.version
    assert bucket.blob(prefix + "model.tflite").download_as_bytes() == second.data


def test_an_export_that_is_not_tflite_is_not_copied(registry, bucket):
    bucket.blob("exports/bad/model.tflite").upload_from_string(b"<html>not a model</html>")
    source = ModelFile.from_gcs(f"gs://{bucket.name}/exports/bad/model.tflite", "1" * 64)
    name = f"bad-{uuid.uuid4().hex[:6]}"
    with pytest.raises(InvalidPublication, match="is not a TensorFlow Lite model"):
        registry.apply(PublishedModelSpec(name, source))
    assert list(bucket.list_blobs(prefix=f"models/{name}/")) == []


def test_an_export_whose_size_changed_is_refused(registry, bucket, tflite_files):
    data = tflite_files[0].data
    bucket.blob("exports/size/model.tflite").upload_from_string(data)
    source = ModelFile.from_gcs(
        f"gs://{bucket.name}/exports/size/model.tflite", hashlib.sha256(data).hexdigest(), 12
    )
    with pytest.raises(CloudError, match=f"has {len(data)} bytes, not the 12"):
        registry.apply(PublishedModelSpec(f"size-{uuid.uuid4().hex[:6]}", source))
