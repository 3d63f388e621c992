"""Cloud Storage's objects on disk: the package's Storage made durable, one record per name.

Used by emulator/gcs.py only (its HTTP handlers and the core's Blobs go through it).
"""

import base64
import hashlib
import json
import logging
import shutil
from pathlib import Path

import google_crc32c

# Private helper of the pinned package: the checksums the HTTP upload computes.
from gcp_storage_emulator.handlers.objects import _checksums
from gcp_storage_emulator.settings import STORAGE_DIR
from gcp_storage_emulator.storage import Storage, _FileStore

from emulator.core.persistence import (
    CorruptStateError,
    atomic_write_bytes,
    read_json,
    remove_file,
)

log = logging.getLogger(__name__)


class _AtomicFileStore(_FileStore):
    """The package's disk store with crash-safe writes."""

    def write_bytes(self, rel: str, content: bytes) -> None:
        atomic_write_bytes(self._disk_path(rel), content)


# Per-object metadata files live under this directory of the store (real bucket names cannot
# start with "_", so it cannot clash with a bucket; the package uses _resumable the same way).
OBJECTS_DIR = "_objects"


class DurableStorage(Storage):
    """The package's Storage, persisting each object name on its own instead of one index.

    The package keeps all state in one JSON index (`.meta`) and rewrites it whole, with every
    object's metadata, after each change: O(n) per upload, O(n²) for a dataset. Here `.meta`
    holds only the small global state (buckets, IAM policies, resumable upload sessions) and
    every object name has one record, `_objects/<bucket>/<hh>/<sha256(name)>.json`, with its
    live resource, its soft-deleted generations and the stat of the content it describes.
    The package's mutating methods are wrapped to note the names they touch; the package
    calls `_write_config_to_file()` at the end of every mutation, which here writes only
    those records (and `.meta` when it changed). On start the records are read back, and a
    record whose content file changed after it (a crash between the two writes) is repaired.
    """

    def __init__(self, data_dir: Path) -> None:
        self._touched: set[tuple[str, str]] = set()
        self._touched_buckets: set[str] = set()
        self._meta_written: bytes | None = None
        super().__init__(data_dir=str(data_dir))  # reads .meta
        self._store = _AtomicFileStore(use_memory=False, root=data_dir / STORAGE_DIR)
        self._load_records()

    # ---- what a mutation touched -------------------------------------------------------------

    def create_file(self, bucket_name, file_name, content, file_obj, file_id=None):
        self._touched.add((bucket_name, file_name))
        super().create_file(bucket_name, file_name, content, file_obj, file_id)

    def patch_object(self, bucket_name, file_name, file_obj):
        self._touched.add((bucket_name, file_name))
        super().patch_object(bucket_name, file_name, file_obj)

    def delete_file(self, bucket_name, file_name):  # soft delete (the buckets' default)
        self._touched.add((bucket_name, file_name))
        super().delete_file(bucket_name, file_name)

    def _hard_delete_file(self, bucket_name, file_name):
        self._touched.add((bucket_name, file_name))
        super()._hard_delete_file(bucket_name, file_name)

    def _remove_soft_deleted_generation(self, bucket_name, file_name, generation):
        # Called by the purge of expired soft deletes, which then writes the config.
        self._touched.add((bucket_name, file_name))
        super()._remove_soft_deleted_generation(bucket_name, file_name, generation)

    def delete_bucket(self, bucket_name):
        if bucket_name in self.buckets:
            self._touched_buckets.add(bucket_name)
        super().delete_bucket(bucket_name)

    def wipe(self, keep_buckets=False):
        # Removes .meta and every directory (_objects included), then may re-create buckets:
        # .meta must be written again even where its content did not change.
        self._meta_written = None
        super().wipe(keep_buckets)
        self._meta_written = None

    # ---- persistence -------------------------------------------------------------------------

    def _write_config_to_file(self) -> None:
        """Persists the in-memory state of what was touched since the last call.

        Idempotent: a name noted by a call that then failed is written as it is now (a name
        in a bucket that does not exist has no record to write).
        """
        touched, self._touched = self._touched, set()
        touched_buckets, self._touched_buckets = self._touched_buckets, set()
        for bucket in sorted(touched_buckets):
            if bucket not in self.buckets:
                shutil.rmtree(self._records_dir(bucket), ignore_errors=True)
        for bucket, name in sorted(touched):
            if bucket in self.buckets:
                self._save_record(bucket, name)
        meta = json.dumps(
            {
                "buckets": self.buckets,
                "resumable": self.resumable,
                "bucket_iam_policies": self.bucket_iam_policies,
            },
            separators=(",", ":"),
        ).encode()
        if meta != self._meta_written:
            self._store.write_bytes(".meta", meta)
            self._meta_written = meta

    def _records_dir(self, bucket: str) -> Path:
        return self._store._disk_path(f"{OBJECTS_DIR}/{bucket}")

    def _record_path(self, bucket: str, name: str) -> Path:
        # Hashed: object names may be longer than a file name or hold any character.
        digest = hashlib.sha256(name.encode()).hexdigest()
        return self._records_dir(bucket) / digest[:2] / f"{digest}.json"

    def _save_record(self, bucket: str, name: str) -> None:
        path = self._record_path(bucket, name)
        live = self.objects.get(bucket, {}).get(name)
        soft_deleted = self.soft_deleted.get(bucket, {}).get(name) or {}
        if live is None and not soft_deleted:
            remove_file(path)
            return
        record = {
            "bucket": bucket,
            "name": name,
            "object": live,
            "softDeleted": soft_deleted,
            "content": None if live is None else self._content_stamp(bucket, name),
        }
        atomic_write_bytes(path, json.dumps(record, separators=(",", ":")).encode())

    def _content_stamp(self, bucket: str, name: str) -> list[int] | None:
        """(size, mtime, inode) of the content file: every atomic write gives a new inode."""
        try:
            st = self.content_path(bucket, name).stat()
        except FileNotFoundError:
            return None
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def _load_records(self) -> None:
        """Reads every record into memory and repairs what a crash left inconsistent.

        Objects still in `.meta` (written by the package's own format) are moved to records.
        """
        to_save = {(b, n) for b, objs in self.objects.items() for n in objs}
        to_save |= {(b, n) for b, names in self.soft_deleted.items() for n in names}
        stamps: dict[tuple[str, str], list[int] | None] = {}
        root = self._store._disk_path(OBJECTS_DIR)
        for path in sorted(root.glob("*/*/*.json")):
            record = read_json(path)
            try:
                bucket, name = record["bucket"], record["name"]
                live, soft_deleted = record["object"], record["softDeleted"]
                stamps[(bucket, name)] = record["content"]
            except (KeyError, TypeError):
                raise CorruptStateError(
                    f"{path} is not an object record of the Cloud Storage emulator; "
                    "restore it or remove it"
                ) from None
            if bucket not in self.buckets:  # a crash while its bucket was being deleted
                remove_file(path)
                continue
            if live is not None:
                self.objects.setdefault(bucket, {})[name] = live
            if soft_deleted:
                self.soft_deleted.setdefault(bucket, {})[name] = soft_deleted
        for bucket, objects in self.objects.items():
            for name, obj in list(objects.items()):
                stamp = self._content_stamp(bucket, name)
                if stamp is None:
                    log.warning("gs://%s/%s: content missing after a crash; dropped", bucket, name)
                    del objects[name]
                    to_save.add((bucket, name))
                elif stamp != stamps.get((bucket, name)):
                    # Written after the record (or by an older format): check it really is
                    # the content the record describes.
                    _repair_checksums(bucket, name, obj, self.content_path(bucket, name))
                    to_save.add((bucket, name))
        self._touched |= to_save
        self._write_config_to_file()

    def content_path(self, bucket: str, name: str) -> Path:
        return self._store._disk_path(self._object_path(bucket, name))


def _repair_checksums(bucket: str, name: str, obj: dict, path: Path) -> None:
    """Makes `obj`'s size and checksums those of the content file (a newer write)."""
    content = path.read_bytes()
    if obj.get("crc32c") == _crc32c(content) and str(obj.get("size")) == str(len(content)):
        return
    log.warning("gs://%s/%s: metadata older than content; recomputed", bucket, name)
    obj.update({"crc32c": None, "md5Hash": None, "etag": None})
    _checksums(content, obj)
    obj["size"] = str(len(content))


def _crc32c(content: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(content).digest()).decode("ascii")
