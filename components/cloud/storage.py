"""Cloud Storage as the tool uses it: content-addressed uploads, JSON records, listing.

Every call goes through `retry.call` (transient errors retried under one policy); the storage
library's own retries are turned off (`retry=None`) so that policy's deadline is the only one.
google-cloud-storage is imported by the calls that use it (through `storage_client`), not with
this module: providers import it, and `edgectl review` calls none of it.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import os
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from components.cloud import retry
from components.cloud.clients import Access, CloudTarget, current_access, storage_client
from components.cloud.errors import CloudError, missing_ok
from components.process_pool import batched, cores, map_ahead, run_in_processes

if TYPE_CHECKING:
    import google.cloud.storage as storage  # untyped: mypy misreads the from-import

Listing = dict[str, "storage.Blob"]  # objects by name, with their metadata

# Requests in flight: sized for a link with a round trip of ~40 ms (real Cloud Storage), where
# each request mostly waits; 10,000 small images take ≈ 10,000 × 40 ms / 32 ≈ 13 s of waiting.
UPLOAD_WORKERS = 32
# From this many uploads on, they are spread over worker processes, one per core
# (upload_pool.py): the storage client spends 0.75-1.0 ms of CPU per small upload when 32
# threads share one process's GIL, so they send at most ~1,200 a second whatever their
# number. Below it, starting the workers (~0.25 s of imports each) costs more than their
# cores save.
MIN_PROCESS_UPLOADS = 2_000
# The worker processes' module (run as `python -m`; not imported here: it imports this one).
WORKER_MODULE = "components.cloud.upload_pool"
BATCH_UPLOADS = 256  # a worker's threads stay busy to the end of a batch of small images
BATCH_BYTES = 16 * 1024 * 1024
# One upload for a worker: object name, content type, what to do, bytes ("present": none).
Action = Literal["create", "replace", "present"]
Job = tuple[str, str, Action, bytes]
# What every worker is told first: where to upload, with what access, how many at a time.
Setup = tuple[CloudTarget, Access, str, int]

# The cycle collector's first threshold while uploads run (Python's default: 700 allocations).
# Each upload allocates a few thousand short-lived objects that reference counting frees, so
# at 700 the collector ran ~470 times for 10,000 uploads (0.4-0.75 s of a first import here,
# every thread stopped meanwhile), walking the caller's live objects (futures, manifest) again
# and again; at 20,000 it runs ~65 times (0.1 s) and still bounds what cycles may pile up.
UPLOAD_GC_THRESHOLD = 20_000
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
        exists: bool = retry.call(
            f"reading bucket gs://{self.bucket_name}", lambda: self._bucket().exists(retry=None)
        )
        return exists

    def listing(self, prefix: str, max_results: int | None = None) -> Listing:
        """The objects under `prefix` by name, with their metadata (size, md5, crc32c, ...);
        the first `max_results` of them (by name) when given."""

        def attempt() -> dict[str, storage.Blob]:
            client = self._bucket().client
            blobs = client.list_blobs(
                self.bucket_name, prefix=prefix, max_results=max_results, retry=None
            )
            return {b.name: b for b in blobs}

        return retry.call(f"listing {self.uri(prefix)}", attempt)

    def names(self, prefix: str) -> set[str]:
        return set(self.listing(prefix))

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        return retry.call_missing_ok(
            f"reading {self.uri(name)}",
            lambda: self._bucket().blob(name).download_as_bytes(retry=None),
        )

    def write(self, name: str, data: bytes, content_type: str | None = None) -> None:
        """Writes the object (retried: writing the same bytes twice leaves the same object)."""
        ctype = content_type or CONTENT_TYPES.get(
            name.rsplit(".", 1)[-1], "application/octet-stream"
        )
        retry.call(
            f"writing {self.uri(name)}",
            lambda: (
                self._bucket().blob(name).upload_from_string(data, content_type=ctype, retry=None)
            ),
        )

    def read_json(self, name: str) -> Any | None:
        data = self.read(name)
        return None if data is None else json.loads(data)

    def write_json(self, name: str, value: Any) -> None:
        self.write(name, json.dumps(value, indent=2, sort_keys=True).encode(), "application/json")

    def delete(self, names: Iterable[str]) -> int:
        """Deletes the objects that exist; returns how many were deleted."""
        deleted = 0
        for name in names:

            def attempt(name: str = name) -> bool:
                self._bucket().blob(name).delete(retry=None)
                return True

            deleted += bool(retry.call_missing_ok(f"deleting {self.uri(name)}", attempt))
        return deleted

    def upload_missing(
        self,
        uploads: Sequence[Upload],
        prefix: str,
        progress: Callable[[int, int], None] | None = None,
        replaced: Callable[[str], None] | None = None,
    ) -> int:
        """Uploads what the bucket does not hold yet, UPLOAD_WORKERS at a time; returns how
        many were sent. From MIN_PROCESS_UPLOADS uploads on, they are made by one worker
        process per core (upload_pool.py), with the same promises.

        Object names are content addresses, and an address must hold the bytes it names: an
        object that exists is checked against the local bytes (the MD5, or CRC32C, that the
        service computed of what it stores) and, holding other bytes, is uploaded again
        (`replaced(name)` is told). What exists is learnt from a listing of `prefix` only as
        long as it is cheap: at most 2 objects per upload (a page lists 1,000), so a bucket
        holding far more than this dataset is not listed whole. Every other upload is a
        create only if the object does not exist (`ifGenerationMatch=0`): one request per
        new object, and a name written meanwhile by someone else is not overwritten (it is
        read and checked instead). Large objects go up resumably (the storage library does so
        above its multipart limit, 8 MiB).
        """
        if not uploads:
            return 0
        present = self.listing(prefix, max_results=2 * len(uploads))
        with fewer_collections():
            return self._upload_absent(uploads, present, progress, replaced)

    def _upload_absent(
        self,
        uploads: Sequence[Upload],
        present: Listing,
        progress: Callable[[int, int], None] | None,
        replaced: Callable[[str], None] | None,
    ) -> int:
        workers = cores()
        if len(uploads) >= MIN_PROCESS_UPLOADS and workers >= 2:
            # On an error here, closing stops the workers: nothing new starts.
            with closing(_upload_in_processes(self, present, uploads, workers)) as made:
                return _count(uploads, made, progress, replaced)
        pool = ThreadPoolExecutor(max_workers=UPLOAD_WORKERS)
        try:
            outcomes = pool.map(partial(self._put_if_absent, present), uploads)
            return _count(uploads, outcomes, progress, replaced)
        finally:  # on an error, what has not started is not started
            pool.shutdown(wait=True, cancel_futures=True)

    def _put_if_absent(self, listed: Listing, upload: Upload) -> str:
        """CREATED, PRESENT (the name holds these bytes) or REPLACED (it held others)."""
        data = upload.read()
        if upload.name in listed:
            if holds(listed[upload.name], data):
                return PRESENT
            self.replace(upload.name, data, upload.content_type)
            return REPLACED
        return self.create(upload.name, data, upload.content_type)

    def create(self, name: str, data: bytes, content_type: str) -> str:
        """Creates the object if no object has its name (`ifGenerationMatch=0`): CREATED;
        else PRESENT when it holds `data`, or REPLACED (it held others: uploaded again)."""
        from google.api_core import exceptions as gexc

        uri = self.uri(name)

        def attempt() -> bool:
            try:
                self._bucket().blob(name).upload_from_string(
                    data, content_type=content_type, if_generation_match=0, retry=None
                )
            except gexc.PreconditionFailed:  # it exists (a retry may find its own upload)
                return False
            return True

        if retry.call(f"uploading {uri}", attempt):
            return CREATED
        existing = retry.call(f"reading {uri}", lambda: self._bucket().get_blob(name, retry=None))
        if existing is not None and holds(existing, data):
            return PRESENT
        self.replace(name, data, content_type)
        return REPLACED

    def replace(self, name: str, data: bytes, content_type: str) -> None:
        """Uploads the object whatever it holds (an address that held other bytes)."""
        retry.call(
            f"uploading {self.uri(name)}",
            lambda: (
                self._bucket()
                .blob(name)
                .upload_from_string(data, content_type=content_type, retry=None)
            ),
        )


def _upload_in_processes(
    store: ObjectStore, listed: Listing, uploads: Sequence[Upload], workers: int
) -> Generator[str, None, None]:
    """The outcome of each upload (CREATED, PRESENT, REPLACED), in order, the uploads made
    by `workers` worker processes; `listed`: what a listing found, by name."""
    threads = -(-UPLOAD_WORKERS // workers)  # UPLOAD_WORKERS in flight, as the threads have
    setup: Setup = (store.target, current_access(), store.bucket_name, threads)
    batches = batched(_jobs(listed, uploads), lambda job: len(job[3]), BATCH_UPLOADS, BATCH_BYTES)
    with closing(run_in_processes(WORKER_MODULE, batches, workers, first=setup)) as results:
        for outcomes in results:
            assert isinstance(outcomes, list)
            yield from outcomes


def _jobs(listed: Listing, uploads: Sequence[Upload]) -> Iterator[Job]:
    for upload, data in _read_ahead(uploads):
        if upload.name not in listed:
            yield (upload.name, upload.content_type, "create", data)
        elif holds(listed[upload.name], data):
            yield (upload.name, upload.content_type, "present", b"")
        else:
            yield (upload.name, upload.content_type, "replace", data)


def _read_ahead(uploads: Sequence[Upload]) -> Iterator[tuple[Upload, bytes]]:
    """Each upload with its bytes (verified: those the check hashed, or DatasetError), in
    order, read by UPLOAD_WORKERS threads a bounded number ahead; after an error, or when the
    consumer stops, no further read starts."""
    return zip(uploads, map_ahead(_read, uploads, UPLOAD_WORKERS), strict=True)


def _read(upload: Upload) -> bytes:
    return upload.read()


def _count(
    uploads: Sequence[Upload],
    outcomes: Iterable[str],
    progress: Callable[[int, int], None] | None,
    replaced: Callable[[str], None] | None,
) -> int:
    """How many of `outcomes` (one per upload, in order) sent bytes; tells `replaced` and
    `progress` (every 500 uploads, and at the end) on the way."""
    sent = 0
    for done, (name, outcome) in enumerate(
        zip((u.name for u in uploads), outcomes, strict=True), start=1
    ):
        if outcome == REPLACED and replaced is not None:
            replaced(name)
        sent += outcome != PRESENT
        if progress and (done % 500 == 0 or done == len(uploads)):
            progress(done, len(uploads))
    return sent


# What an upload did: created the object, found it holding its bytes, or replaced it.
CREATED, PRESENT, REPLACED = "created", "present", "replaced"


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The cycle collector's first threshold raised to UPLOAD_GC_THRESHOLD (never lowered),
    and restored after, as found (by the last of concurrent callers to end, the first's)."""
    with _GC_LOCK:
        global _gc_users, _gc_saved
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], UPLOAD_GC_THRESHOLD), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


_GC_LOCK = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, ...] = gc.get_threshold()


def holds(blob: storage.Blob, data: bytes) -> bool:
    """Whether a listed object holds `data`: its MD5 (or, for composed objects, which have
    none, its CRC32C) as the service computed it, and its size."""
    if blob.size is not None and int(blob.size) != len(data):
        return False
    # The storage library is untyped: its checksums are base64 strings (or None).
    md5_hash: str | None = blob.md5_hash
    crc32c: str | None = blob.crc32c
    if md5_hash:
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        return md5_hash == base64.b64encode(md5).decode()
    if crc32c:
        import google_crc32c

        return crc32c == base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
    return False  # no checksum to trust: upload again


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
        listed: list[storage.Blob] = retry.call(
            f"listing gs://{bucket}/{prefix}",
            partial(_list_blobs, client, bucket, prefix),
        )
        for blob in listed:
            if blob.name in wanted:
                found[f"gs://{bucket}/{blob.name}"] = ObjectStat(blob.generation, blob.size)
    return found


def _list_blobs(client: storage.Client, bucket: str, prefix: str) -> list[storage.Blob]:
    return list(client.list_blobs(bucket, prefix=prefix, retry=None))


def read_uri(target: CloudTarget, uri: str) -> bytes:
    """The bytes of a gs:// object (CloudNotFound when it does not exist)."""
    bucket, name = split_uri(uri)
    data: bytes = retry.call(
        f"reading {uri}",
        lambda: storage_client(target).bucket(bucket).blob(name).download_as_bytes(retry=None),
    )
    return data


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
        b = retry.call_missing_ok(
            f"reading bucket gs://{self.name}",
            lambda: self._client().get_bucket(self.name, retry=None),
        )
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
            # Retried as it is: a retry after a create that did happen answers Conflict,
            # handled below as "it exists".
            retry.call(
                f"creating bucket gs://{self.name}",
                lambda: client.create_bucket(bucket, location=settings.location, retry=None),
            )
            return True
        except CloudError as err:
            from google.api_core import exceptions as gexc

            if not isinstance(err.__cause__, gexc.Conflict):
                raise
        self.update(settings)
        return False

    def update(self, settings: BucketSettings) -> None:
        def attempt() -> None:
            bucket = self._client().get_bucket(self.name, retry=None)
            _apply(bucket, settings)
            bucket.patch(retry=None)

        retry.call(f"updating bucket gs://{self.name}", attempt)

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
