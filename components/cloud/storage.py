"""Cloud Storage as the tool uses it: content-addressed uploads, JSON records, listing."""

import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage

from components.cloud.clients import CloudTarget, storage_client
from components.cloud.errors import CloudError, cloud_errors, missing_ok

UPLOAD_WORKERS = 8
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "csv": "text/csv",
    "json": "application/json",
    "tflite": "application/octet-stream",
}


def split_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/object → (bucket, object)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


@dataclass(frozen=True)
class Upload:
    name: str  # object name
    read: Callable[[], bytes] = field(repr=False, compare=False)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.name.rsplit(".", 1)[-1], "application/octet-stream")


class ObjectStore:
    """One bucket of a stack. Thread-safe: each worker thread gets its own client."""

    def __init__(self, target: CloudTarget, bucket: str):
        self.target = target
        self.bucket_name = bucket
        self._local = threading.local()

    def _bucket(self) -> storage.Bucket:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = storage_client(self.target)
        return client.bucket(self.bucket_name)

    def uri(self, name: str = "") -> str:
        return f"gs://{self.bucket_name}/{name}"

    def exists(self) -> bool:
        with cloud_errors(f"reading bucket gs://{self.bucket_name}"):
            return self._bucket().exists()

    def names(self, prefix: str) -> set[str]:
        with cloud_errors(f"listing {self.uri(prefix)}"):
            return {
                b.name for b in self._bucket().client.list_blobs(self.bucket_name, prefix=prefix)
            }

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        with missing_ok(f"reading {self.uri(name)}"):
            return self._bucket().blob(name).download_as_bytes()
        return None

    def write(self, name: str, data: bytes, content_type: str | None = None) -> None:
        ctype = content_type or CONTENT_TYPES.get(
            name.rsplit(".", 1)[-1], "application/octet-stream"
        )
        with cloud_errors(f"writing {self.uri(name)}"):
            self._bucket().blob(name).upload_from_string(data, content_type=ctype)

    def read_json(self, name: str) -> Any | None:
        data = self.read(name)
        return None if data is None else json.loads(data)

    def write_json(self, name: str, value: Any) -> None:
        self.write(name, json.dumps(value, indent=2, sort_keys=True).encode(), "application/json")

    def delete(self, names: Iterable[str]) -> int:
        """Deletes the objects that exist; returns how many were deleted."""
        deleted = 0
        for name in names:
            with missing_ok(f"deleting {self.uri(name)}"):
                self._bucket().blob(name).delete()
                deleted += 1
        return deleted

    def upload_missing(
        self,
        uploads: Sequence[Upload],
        prefix: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Uploads (in parallel) the objects not already under `prefix`; returns the count.

        Object names are content addresses, so an object that exists holds the same bytes.
        """
        present = self.names(prefix)
        todo = [u for u in uploads if u.name not in present]
        if not todo:
            return 0

        def put(u: Upload) -> None:
            with cloud_errors(f"uploading {self.uri(u.name)}"):
                self._bucket().blob(u.name).upload_from_string(
                    u.read(), content_type=u.content_type
                )

        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            for done, _ in enumerate(pool.map(put, todo), start=1):
                if progress and (done % 200 == 0 or done == len(todo)):
                    progress(done, len(todo))
        return len(todo)


@dataclass(frozen=True)
class ObjectStat:
    generation: int
    size: int


def stat_objects(target: CloudTarget, uris: Sequence[str]) -> dict[str, ObjectStat]:
    """Generation and size of the gs:// objects that exist (one listing per bucket)."""
    by_bucket: dict[str, list[str]] = {}
    for uri in uris:
        bucket, name = split_uri(uri)
        by_bucket.setdefault(bucket, []).append(name)
    client = storage_client(target)
    found: dict[str, ObjectStat] = {}
    for bucket, names in by_bucket.items():
        prefix = os.path.commonprefix(names)  # noqa: RUF071 (GCS prefixes are strings, not paths)
        wanted = set(names)
        with cloud_errors(f"listing gs://{bucket}/{prefix}"):
            for blob in client.list_blobs(bucket, prefix=prefix):
                if blob.name in wanted:
                    found[f"gs://{bucket}/{blob.name}"] = ObjectStat(blob.generation, blob.size)
    return found


def read_uri(target: CloudTarget, uri: str) -> bytes:
    """The bytes of a gs:// object (CloudNotFound when it does not exist)."""
    bucket, name = split_uri(uri)
    with cloud_errors(f"reading {uri}"):
        return storage_client(target).bucket(bucket).blob(name).download_as_bytes()


@dataclass(frozen=True)
class BucketSettings:
    """What the Bucket spec controls. Uniform access and public-access prevention are fixed."""

    location: str = "US-CENTRAL1"
    storage_class: str = "STANDARD"
    versioning: bool = False
    delete_after_days: int | None = None
    labels: tuple[tuple[str, str], ...] = ()


def _apply(bucket: storage.Bucket, s: BucketSettings) -> None:
    bucket.storage_class = s.storage_class
    bucket.versioning_enabled = s.versioning
    bucket.labels = dict(s.labels)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.clear_lifecyle_rules()
    if s.delete_after_days:
        bucket.add_lifecycle_delete_rule(age=s.delete_after_days)


class BucketAdmin:
    """Create / read / update / delete of one bucket (the local stack's Bucket provider)."""

    def __init__(self, target: CloudTarget, name: str):
        self.target = target
        self.name = name

    def _client(self) -> storage.Client:
        return storage_client(self.target)

    def get(self) -> dict[str, Any] | None:
        """The bucket's current settings, or None when it does not exist."""
        b = None
        with missing_ok(f"reading bucket gs://{self.name}"):
            b = self._client().get_bucket(self.name)
        if b is None:
            return None
        rules = [r for r in b.lifecycle_rules if r.get("action", {}).get("type") == "Delete"]
        return {
            "location": (b.location or "").upper(),
            "storageClass": b.storage_class,
            "versioning": bool(b.versioning_enabled),
            "labels": dict(b.labels or {}),
            "deleteAfterDays": rules[0]["condition"].get("age") if rules else None,
        }

    def create(self, settings: BucketSettings) -> bool:
        """Creates the bucket; False when it already existed (its settings are then applied)."""
        client = self._client()
        bucket = client.bucket(self.name)
        _apply(bucket, settings)
        try:
            with cloud_errors(f"creating bucket gs://{self.name}"):
                client.create_bucket(bucket, location=settings.location)
            return True
        except CloudError as err:
            if not isinstance(err.__cause__, gexc.Conflict):
                raise
        self.update(settings)
        return False

    def update(self, settings: BucketSettings) -> None:
        with cloud_errors(f"updating bucket gs://{self.name}"):
            bucket = self._client().get_bucket(self.name)
            _apply(bucket, settings)
            bucket.patch()

    def delete(self, force: bool) -> None:
        """Deletes the bucket; with `force`, its objects (every version) first, as
        `force_destroy`; without it, a bucket that holds objects is refused, untouched."""
        with missing_ok(f"deleting bucket gs://{self.name}"):
            bucket = self._client().get_bucket(self.name)
            if not force:
                held = list(bucket.list_blobs(versions=True, max_results=_SHOWN + 1))
                if held:
                    raise CloudError(_not_empty(self.name, [b.name for b in held]))
            else:  # Bucket.delete(force=True) refuses buckets of over 256 objects
                blobs = list(bucket.list_blobs(versions=True))
                with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
                    list(pool.map(lambda b: b.delete(), blobs))
            bucket.delete()


_SHOWN = 3  # object names quoted when a deletion is refused


def _not_empty(bucket: str, names: list[str]) -> str:
    count = (
        f"{len(names)} object{'s' if len(names) > 1 else ''}"
        if len(names) <= _SHOWN
        else f"more than {_SHOWN} objects"
    )
    shown = ", ".join(names[:_SHOWN])
    return (
        f"gs://{bucket} holds {count} ({shown}); it is deleted with its objects only when its "
        "spec says forceDestroy: true. Set spec.forceDestroy: true to delete them with it, or "
        "move them first; nothing was deleted"
    )
