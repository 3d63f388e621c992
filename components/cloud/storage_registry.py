"""The `storage` Registry adapter: a model file and its manifest in the stack's bucket.

Layout (Firebase's successor to Firebase ML is hosting the file in Cloud Storage):
    gs://<bucket>/models/<displayName>/model.tflite    the file; its generation is the version
    gs://<bucket>/models/<displayName>/manifest.json   {displayName, tags, published, sha256,
                                                        sizeBytes, threshold, labels,
                                                        generation, updateTime}
An app reads the manifest, and downloads the file when `published` is true and the
generation differs from the one it holds. The manifest names the file generation it
describes, so a file replaced by hand is seen (its sha256 reads back as unknown).
"""

import json
from datetime import UTC, datetime
from typing import Any

import google.cloud.storage as storage  # untyped: mypy misreads the from-import

from components.cloud import retry
from components.cloud.clients import CloudTarget, storage_client
from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.registry import (
    ModelFile,
    Progress,
    PublishedModel,
    PublishedModelSpec,
    Registry,
    check_tflite_header,
    manifest,
    validate_display_name,
    validate_spec,
)
from components.cloud.storage import split_uri

MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"


def model_prefix(display_name: str) -> str:
    return f"models/{display_name}/"


class StorageRegistry(Registry):
    """Models as objects in one bucket of a stack."""

    kind = "storage"

    def __init__(self, target: CloudTarget, bucket: str) -> None:
        self.target = target
        self.bucket_name = bucket

    def _bucket(self) -> storage.Bucket:
        return storage_client(self.target).bucket(self.bucket_name)

    def _uri(self, name: str) -> str:
        return f"gs://{self.bucket_name}/{name}"

    def _current(
        self, bucket: storage.Bucket, prefix: str
    ) -> tuple[dict[str, Any] | None, storage.Blob | None]:
        """(manifest or None, model blob or None) as they are now."""

        def attempt() -> tuple[bytes | None, storage.Blob | None]:
            model_blob = bucket.get_blob(prefix + MODEL_FILE, retry=None)
            manifest_blob = bucket.get_blob(prefix + MANIFEST_FILE, retry=None)
            if manifest_blob is None:
                return None, model_blob
            return manifest_blob.download_as_bytes(retry=None), model_blob

        data, model_blob = retry.call(f"reading {self._uri(prefix)}", attempt)
        if data is None:
            return None, model_blob
        try:
            record = json.loads(data)
        except ValueError:
            record = {}  # damaged by hand: rewritten by the next apply
        return (record if isinstance(record, dict) else {}), model_blob

    def apply(self, spec: PublishedModelSpec, progress: Progress | None = None) -> PublishedModel:
        validate_spec(spec)
        prefix = model_prefix(spec.display_name)
        bucket = self._bucket()
        record, blob = self._current(bucket, prefix)
        file_current = (
            record is not None
            and blob is not None
            and record.get("sha256") == spec.model.sha256
            and record.get("generation") == str(blob.generation)
        )
        if not file_current:
            blob = self._put_file(bucket, prefix + MODEL_FILE, spec.model)
            if progress:
                progress(
                    f"[publication {spec.display_name}] uploaded {self._uri(blob.name)} "
                    f"(generation {blob.generation}, {blob.size} bytes)"
                )
        assert blob is not None
        desired = {**manifest(spec, blob.size), "generation": str(blob.generation)}
        current = {k: v for k, v in (record or {}).items() if k != "updateTime"}
        if current != desired:
            desired["updateTime"] = datetime.now(UTC).isoformat()
            text = json.dumps(desired, indent=2, sort_keys=True)
            retry.call(
                f"writing {self._uri(prefix + MANIFEST_FILE)}",
                lambda: bucket.blob(prefix + MANIFEST_FILE).upload_from_string(
                    text, content_type="application/json", retry=None
                ),
            )
            record = desired
        assert record is not None
        return self._published(spec.display_name, record, blob)

    def _put_file(self, bucket: storage.Bucket, name: str, model: ModelFile) -> storage.Blob:
        target = bucket.blob(name)
        if model.data is not None:
            data = model.data
            retry.call(
                f"uploading {self._uri(name)}",
                lambda: target.upload_from_string(
                    data, content_type="application/octet-stream", retry=None
                ),
            )
            return target
        assert model.gcs_uri is not None
        source_bucket, source_name = split_uri(model.gcs_uri)
        client = bucket.client
        source = retry.call(
            f"reading the model file {model.gcs_uri}",
            lambda: client.bucket(source_bucket).get_blob(source_name, retry=None),
        )
        if source is None:
            raise CloudNotFound(f"the model file {model.gcs_uri} does not exist")
        if model.size_bytes is not None and source.size != model.size_bytes:
            raise CloudError(
                f"the model file {model.gcs_uri} has {source.size} bytes, not the "
                f"{model.size_bytes} its export recorded; it changed after the export"
            )
        head = retry.call(
            f"reading {model.gcs_uri}",
            lambda: source.download_as_bytes(start=0, end=7, retry=None),
        )
        check_tflite_header(head, f"the model file {model.gcs_uri}")
        # Retried as it is: a second copy of the same file only makes a newer generation,
        # which the manifest then names.
        return retry.call(
            f"copying {model.gcs_uri} to {self._uri(name)}",
            lambda: client.bucket(source_bucket).copy_blob(source, bucket, name, retry=None),
        )

    def read(self, display_name: str) -> PublishedModel | None:
        validate_display_name(display_name)
        record, blob = self._current(self._bucket(), model_prefix(display_name))
        if record is None:
            return None
        return self._published(display_name, record, blob)

    def _published(
        self, display_name: str, record: dict[str, Any], blob: storage.Blob | None
    ) -> PublishedModel:
        same_file = blob is not None and record.get("generation") == str(blob.generation)
        threshold = record.get("threshold")
        return PublishedModel(
            registry=self.kind,
            name=self._uri(model_prefix(display_name) + MODEL_FILE),
            display_name=display_name,
            sha256=record.get("sha256") if same_file else None,
            model_hash=blob.md5_hash if blob is not None else None,
            size_bytes=blob.size if blob is not None else None,
            tags=tuple(record.get("tags") or ()),
            published=bool(record.get("published")),
            threshold=float(threshold) if isinstance(threshold, int | float) else None,
            labels=tuple(record.get("labels") or ()),
            version=str(blob.generation) if blob is not None else "",
            update_time=str(record.get("updateTime") or ""),
        )

    def delete(self, display_name: str) -> bool:
        validate_display_name(display_name)
        bucket = self._bucket()
        deleted = False
        # The manifest first: without it the model reads as gone, even if the file lingers.
        for name in (MANIFEST_FILE, MODEL_FILE):
            path = model_prefix(display_name) + name

            def attempt(path: str = path) -> bool:
                bucket.blob(path).delete(retry=None)
                return True

            deleted = bool(retry.call_missing_ok(f"deleting {self._uri(path)}", attempt)) or deleted
        return deleted
