"""Cloud Storage's objects on disk: the package's Storage made durable, one record per name.

Used by emulator/gcs.py only (its HTTP handlers and the core's Blobs go through it).

Layout of the store (`<data dir>/gcs/.cloudstorage/`):
- `.meta`: buckets, IAM policies, resumable upload sessions and `layout` (see LAYOUT);
- `_objects/<bucket>/records.jsonl`: the bucket's record log, one JSON record of an object
  name per line, appended; a name's last line is its state (see DurableStorage);
- `_objects/<bucket>/content-<k>.pack`: the live content of names whose content is small
  (PACK_LIMIT), appended one after another (persistence.PackFile); the record says where;
- `_objects/<bucket>/<hh>/<sha256(name)>.data`: the live content of a name whose content is
  larger (or was written by an earlier layout);
- `_softdelete/<bucket>/…`, `_resumable/…`: the package's own, already named by hashes.
No file or folder is named after an object, so no two names can meet on disk: `a/b`, `./a/b`,
`a//b`, `/a/b`, `a\\b` and `a/b/` are six objects, and `p` and `p/q` both exist, as in Cloud
Storage (https://cloud.google.com/storage/docs/objects#naming: names are flat, any Unicode,
1-1024 bytes). No bucket is named like the store's folders: bucket names start with a letter
or digit (https://cloud.google.com/storage/docs/buckets#naming), checked on create and start.
"""

import base64
import functools
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google_crc32c

# Private helper of the pinned package: the checksums the HTTP upload computes.
from gcp_storage_emulator.exceptions import NotFound as GcsNotFound
from gcp_storage_emulator.handlers.objects import _checksums
from gcp_storage_emulator.settings import STORAGE_DIR
from gcp_storage_emulator.storage import RESUMABLE_DIR, Storage, _FileStore

from emulator.core.blobs import ContentLocation
from emulator.core.persistence import (
    CorruptStateError,
    GroupSync,
    PackFile,
    atomic_write_bytes,
    commit_staged,
    file_size,
    fsync_directory,
    pack_numbers,
    read_json,
    read_range,
    stage_bytes,
    write_all,
    write_pack,
)
from emulator.gcs_names import bucket_name_problem, check_bucket_name, check_object_name

log = logging.getLogger(__name__)


class _AtomicFileStore(_FileStore):
    """The package's disk store with crash-safe writes, synced in a group."""

    def __init__(self, root: Path, group: GroupSync | None) -> None:
        super().__init__(use_memory=False, root=root)
        self._group = group

    def write_bytes(self, rel: str, content: bytes) -> None:
        atomic_write_bytes(self._disk_path(rel), content, self._group)


class PreconditionFailed(Exception):
    """An upload's `ifGenerationMatch` does not hold; nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Records and content of every object live under this folder of the store. Bucket names cannot
# start with "_" (gcs_names.py), so no bucket is ever one of the store's own folders.
OBJECTS_DIR = "_objects"
# A bucket's record log, in its folder (beside the two-hex-digit folders of content files).
RECORD_LOG = "records.jsonl"
# The on-disk layout, stored in `.meta`. 1 (no "layout" key, the package's layout and this
# emulator's before it): content files at paths made of object names, where distinct names
# shared one file and `p` / `p/q` could not both exist. 2: content files named by name hashes,
# each beside its name's record file (`<sha256(name)>.json`). 3: the records of a bucket in one
# log (RECORD_LOG): an upload creates one file (its content) instead of two — on a disk where a
# file create is slow (ext4 without a journal passes over inodes freed in the last minutes),
# the second create was a third of an upload's time in the emulator. 4: the content of a small
# object appended to its bucket's pack (PACK_SUFFIX) instead of a file of its own, the record
# saying where ({"pack", "offset", "size"}): an upload creates no file at all (the first, and a
# data directory's files of layout 3, are read as they are).
LAYOUT = 4
# Contents up to this size are appended to their bucket's pack; larger ones get a file each
# (copied only when their pack is compacted: the bigger a content, the less a create costs
# next to writing it).
PACK_LIMIT = 1 << 20
# A bucket's packs: `content-<k>.pack`, appends going to the highest k.
PACK_PREFIX, PACK_SUFFIX = "content-", ".pack"
# On start, a bucket's live packed contents are copied into a new pack when the bytes no live
# object refers to (overwritten, deleted) exceed both the live bytes and this.
COMPACT_MIN_BYTES = 1 << 20


class DurableStorage(Storage):
    """The package's Storage, persisting each object name on its own instead of one index.

    The package keeps all state in one JSON index (`.meta`) and rewrites it whole, with every
    object's metadata, after each change: O(n) per upload, O(n²) for a dataset. Here `.meta`
    holds only the small global state (buckets, IAM policies, resumable upload sessions) and
    every change of an object name appends one record to its bucket's log
    (`_objects/<bucket>/records.jsonl`): the name's live resource, its soft-deleted
    generations and where its content is: a place in one of the bucket's packs
    (`{"pack": k, "offset", "size"}`, a content of at most PACK_LIMIT bytes) or the stat of
    its content file `<hh>/<sha256(name)>.data` (a larger one); a name with neither is gone.
    The package's mutating methods are wrapped to note the names they touch; the package
    calls `_write_config_to_file()` at the end of every mutation, which here appends only
    those records (and writes `.meta` when it changed).
    On start the logs are read back (a name's last line wins) and a record whose content file
    changed after it (a crash between the two writes) is repaired; a record whose packed
    content is not all in its pack (a machine crash before the group's sync) is dropped with
    a warning, and a content file beside a packed record is removed (an upload of a larger
    content to the name that was not answered: the crash came before its record). A bucket's
    packs are compacted on start when most of their bytes are no longer referred to: the live
    contents copied into a new pack (synced), the log rewritten to point there, then the old
    packs removed (a crash between leaves a pack no record refers to, removed at the next
    start). A log is rewritten, one line per name, atomically, when it holds lines of names
    written since or repaired, and an unfinished last line (the process died within its
    append, or the machine within a second of it: its upload was not answered, or the group
    sync's promise covers it) is dropped then with a warning; a finished line that is no
    record is refused (CorruptStateError).
    A data directory in layout 1 or 2 is moved to layout 3 (`_adopt_previous_layout`, then
    the record files of layout 2 read into the logs and removed); layout 3's content files
    are read where they are (layout 4 adds the packs).

    Names Cloud Storage refuses raise gcs_names.InvalidName before anything is stored.

    Concurrency: `lock` guards the in-memory state. Uploads (`create_file` and the
    resumable-session methods it follows) take it themselves: an object's content is appended
    to its bucket's pack (or written to a temporary file) before, its record after (records
    of one name in order, by serial number), and the lock is held for the precondition, the
    rename and the in-memory update only, so uploads of many objects go side by side. Every
    other call is made with `lock` held by the caller (GcsServer). Writes are grouped for
    durability (`group`, see persistence.GroupSync): appended or renamed into place before
    the answer, synced within a second.
    """

    def __init__(
        self,
        data_dir: Path,
        lock: "threading.RLock | None" = None,
        group: GroupSync | None = None,
        before_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._touched: set[tuple[str, str]] = set()
        self._touched_buckets: set[str] = set()
        self._meta_written: bytes | None = None
        self._layout = LAYOUT
        self.lock = lock or threading.RLock()
        self._group = group
        self._request = threading.local()  # the preconditions of the request a thread serves
        self._record_serial = 0  # orders the records of one name written without the lock
        self._record_written: dict[tuple[str, str], int] = {}
        # Appends to the logs (and their open descriptors, per bucket): one at a time.
        self._log_lock = threading.Lock()
        self._log_fds: dict[str, int] = {}
        # Packs: each bucket's (number, open pack) appended to, and where each live packed
        # content is (pack number, offset, size). `_packs` under `_pack_lock`; `_packed` with
        # `lock` held.
        self._pack_lock = threading.Lock()
        self._packs: dict[str, tuple[int, PackFile]] = {}
        self._packed: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._moved = False
        # Called with an upload's content staged, before the lock (fault injection's
        # COMMIT_STEP: a test holds an upload there, or kills the emulator there).
        self._before_commit = before_commit
        super().__init__(data_dir=str(data_dir))  # reads .meta
        self._store = _AtomicFileStore(data_dir / STORAGE_DIR, group)
        self._objects_root = self._store._disk_path(OBJECTS_DIR)
        self._objects_root_str = str(self._objects_root)
        self._layout = self._stored_layout()
        self._check_bucket_names()
        self._load_records()

    # ---- names -------------------------------------------------------------------------------

    def create_bucket(self, bucket_name, bucket_obj):
        """Creates (name checked) or updates a bucket; unlike the package's, makes no folder.

        A label patched to null is removed, as Cloud Storage does ("To remove a label, set its
        value to null": https://cloud.google.com/storage/docs/using-bucket-labels, JSON API);
        the package's PATCH stores the null (the dict is changed in place: the response too).
        """
        if bucket_name not in self.buckets:
            check_bucket_name(bucket_name)
        labels = bucket_obj.get("labels")
        if isinstance(labels, dict):
            for key in [k for k, v in labels.items() if v is None]:
                del labels[key]
        self.buckets[bucket_name] = bucket_obj
        self._write_config_to_file()
        return bucket_obj

    def create_resumable_upload(self, bucket_name, file_name, file_obj):
        check_object_name(file_name)
        with self.lock:
            self._check_precondition(bucket_name, file_name)
            return super().create_resumable_upload(bucket_name, file_name, file_obj)

    def get_resumable_byte_count(self, file_id):
        with self.lock:
            return super().get_resumable_byte_count(file_id)

    def add_to_resumable_upload(self, file_id, content, total_size=None, expected_start=None):
        with self.lock:
            return super().add_to_resumable_upload(file_id, content, total_size, expected_start)

    def get_resumable_file_obj(self, file_id):
        with self.lock:
            return super().get_resumable_file_obj(file_id)

    # ---- preconditions -----------------------------------------------------------------------

    @contextmanager
    def preconditions(self, if_generation_match: int | None):
        """The `ifGenerationMatch` of the request this thread serves, checked by the upload."""
        self._request.if_generation_match = if_generation_match
        try:
            yield
        finally:
            self._request.if_generation_match = None

    def _check_precondition(self, bucket_name: str, file_name: str) -> None:
        """Raises PreconditionFailed when the request's ifGenerationMatch does not hold
        (0: the object must not exist). Lock held."""
        wanted = getattr(self._request, "if_generation_match", None)
        if wanted is None:
            return
        live = self.objects.get(bucket_name, {}).get(file_name)
        generation = int(live["generation"]) if live is not None else 0
        if generation != wanted:
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold."
            )

    def _object_path(self, bucket_name, file_name):
        """The content file of an object: named by the hash of the name, never by the name."""
        if bucket_name == RESUMABLE_DIR:  # an upload session's bytes, named by a hash already
            return super()._object_path(bucket_name, file_name)
        return _name_path(bucket_name, file_name, ".data")

    # ---- what a mutation touched -------------------------------------------------------------

    def create_file(
        self,
        bucket_name: str,
        file_name: str,
        content: bytes,
        file_obj: dict,
        file_id: str | None = None,
    ) -> str:
        """Stores an object: its content appended to the bucket's pack (at most PACK_LIMIT
        bytes) or staged in a file, without the lock; then, holding it, the precondition
        checked, a staged file renamed into place and the state updated; the record is written
        once the lock is released (before the answer). Returns the object resource as JSON
        (the upload's answer). Bytes appended for an upload that then fails (a precondition)
        are never referred to; the pack's next compaction drops them."""
        check_object_name(file_name)
        _quote_links(bucket_name, file_name, file_obj)
        if bucket_name not in self.buckets:
            raise GcsNotFound
        key = (bucket_name, file_name)
        # Encoded before the lock is taken: the resource is this upload's until it is stored.
        encoded = json.dumps(file_obj, separators=(",", ":"))
        packed = len(content) <= PACK_LIMIT
        staged = None
        if packed:
            where, appended_to = self._pack_append(bucket_name, content)
            stamp: Any = _place_json(where)
        else:
            path = self.content_path(bucket_name, file_name)
            staged, stat = stage_bytes(path, content, self._group)
            stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        committed = replaced_file = False
        try:
            self._before_commit()
            with self.lock:
                if bucket_name not in self.buckets:  # deleted meanwhile
                    raise GcsNotFound
                self._check_precondition(bucket_name, file_name)
                live = self.objects.setdefault(bucket_name, {})
                if staged is None:
                    if self._packs.get(bucket_name) is not appended_to:
                        # Its pack was closed since (the bucket deleted and made again, the
                        # store reset): the place is not in the pack there now.
                        raise GcsNotFound
                    # The name's content was a file: removed once the record says otherwise.
                    replaced_file = file_name in live and key not in self._packed
                    self._packed[key] = where
                else:
                    commit_staged(staged, path, self._group)
                    self._packed.pop(key, None)
                committed = True
                live[file_name] = file_obj
                self._touched.add(key)
                if file_id:
                    self.delete_resumable_file_obj(file_id)
                    self._delete_file(RESUMABLE_DIR, self.safe_id(file_id))
                # `.meta` changes only when a resumable session ends here.
                records = self._take_touched({key: encoded}, write_meta=bool(file_id))
            # Without the lock (it is the slow part). The record vouches for the content this
            # upload stored, not for the file as it is when the record is written: a newer
            # upload of the name may have replaced it since (its record then repairs it, or,
            # after a crash, the start does).
            self._write_records(records, {key: stamp})
            if replaced_file:
                self._remove_replaced_file(key, where)
        finally:
            if staged is not None and not committed:  # the staged content is not to be used
                staged.unlink(missing_ok=True)
        return encoded

    def _pack_append(
        self, bucket: str, content: bytes
    ) -> tuple[tuple[int, int, int], tuple[int, PackFile]]:
        """Appends `content` to the bucket's pack; returns (pack number, offset, size) and
        the pack (still the bucket's when the upload is stored, or it is refused)."""
        with self._pack_lock:
            if self._moved:  # a reset moved the store aside: nothing more is written there
                raise GcsNotFound
            opened = self._packs.get(bucket)
            if opened is None:
                numbers = self._pack_numbers(bucket)
                number = max(numbers, default=1)
                pack = PackFile(self._pack_file(bucket, number), self._group)
                opened = self._packs[bucket] = (number, pack)
        number, pack = opened
        try:
            return (number, pack.append(content), len(content)), opened
        except ValueError:  # closed meanwhile: the bucket was deleted, or the store reset
            raise GcsNotFound from None

    def _remove_replaced_file(self, key: tuple[str, str], where: tuple[int, int, int]) -> None:
        """Removes the content file a packed content replaced, unless a newer upload of the
        name has been stored since (its content is then elsewhere, or this file again)."""
        with self.lock:
            if self._packed.get(key) == where:
                Path(self.content_file(*key)).unlink(missing_ok=True)

    def _pack_numbers(self, bucket: str) -> list[int]:
        """The numbers of the bucket's packs on disk."""
        folder = os.path.join(self._objects_root_str, bucket)
        return pack_numbers(folder, PACK_PREFIX, PACK_SUFFIX)

    def _pack_file(self, bucket: str, number: int) -> str:
        return os.path.join(self._objects_root_str, bucket, f"{PACK_PREFIX}{number}{PACK_SUFFIX}")

    def _close_pack(self, bucket: str) -> None:
        with self._pack_lock:
            opened = self._packs.pop(bucket, None)
        if opened is not None:
            opened[1].close()

    def get_file(self, bucket_name, file_name, show_error=True):
        """The object's content: from its pack, or (a large one) its file."""
        where = self._packed.get((bucket_name, file_name))
        if where is None:
            return super().get_file(bucket_name, file_name, show_error)
        try:
            return read_range(self._pack_file(bucket_name, where[0]), where[1], where[2])
        except FileNotFoundError:
            raise GcsNotFound from None

    def _delete_file(self, bucket_name, file_name):
        """Removes a live object's content: its file, or its place in a pack (the bytes stay
        until the pack is compacted)."""
        if self._packed.pop((bucket_name, file_name), None) is None:
            super()._delete_file(bucket_name, file_name)

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
        self.close()
        self._packed.clear()
        self._meta_written = None
        super().wipe(keep_buckets)
        self._meta_written = None

    # ---- persistence -------------------------------------------------------------------------

    def _write_config_to_file(self) -> None:
        """Persists the in-memory state of what was touched since the last call.

        Idempotent: a name noted by a call that then failed is written as it is now (a name
        in a bucket that does not exist has no record to write).
        """
        self._write_records(self._take_touched())

    def _take_touched(
        self, encoded: dict[tuple[str, str], str] | None = None, write_meta: bool = True
    ) -> list[tuple[tuple[str, str], int, str | None, bool]]:
        """The records of what was touched, as text, each with its sequence number; removes
        deleted buckets' records and writes `.meta` when it changed (unless the caller knows
        it did not: `write_meta`). `encoded`: live objects' JSON, made by the caller. Lock
        held."""
        touched, self._touched = self._touched, set()
        touched_buckets, self._touched_buckets = self._touched_buckets, set()
        for bucket in sorted(touched_buckets):
            if bucket not in self.buckets:
                self._close_log(bucket)
                self._close_pack(bucket)
                for key in [k for k in self._packed if k[0] == bucket]:
                    del self._packed[key]
                shutil.rmtree(self._records_dir(bucket), ignore_errors=True)
        records = []
        for bucket, name in sorted(touched):
            if bucket not in self.buckets:
                continue
            live = self.objects.get(bucket, {}).get(name)
            soft_deleted = self.soft_deleted.get(bucket, {}).get(name) or {}
            self._record_serial += 1
            text = None
            if live is not None or soft_deleted:
                known = encoded.get((bucket, name)) if encoded else None
                text = _record_text(bucket, name, known or _compact(live), soft_deleted)
            records.append(((bucket, name), self._record_serial, text, live is not None))
        if not write_meta:
            return records
        meta = json.dumps(
            {
                "buckets": self.buckets,
                "resumable": self.resumable,
                "bucket_iam_policies": self.bucket_iam_policies,
                "layout": self._layout,
            },
            separators=(",", ":"),
        ).encode()
        if meta != self._meta_written:
            self._store.write_bytes(".meta", meta)
            self._meta_written = meta
        return records

    def _write_records(
        self,
        records: list[tuple[tuple[str, str], int, str | None, bool]],
        stamps: dict[tuple[str, str], list[int]] | None = None,
    ) -> None:
        """Appends records taken by `_take_touched` to their buckets' logs, with or without the
        lock: per name, in order (a record older than the one written already is skipped),
        with the stat of the content they describe: `stamps`' (an upload's own content), else
        the content file as it is now (the lock held since the record was taken). A newer
        content is repaired on start, see `_reconcile_content`."""
        for key, serial, text, live in records:
            bucket, name = key
            with self._log_lock:
                if serial < self._record_written.get(key, 0):
                    continue
                self._record_written[key] = serial
                if text is None:  # neither live nor soft-deleted: the name is gone
                    line = _log_line(_record_text(bucket, name, "null", {}), None)
                else:
                    stamp = None
                    if live:
                        stamp = (
                            stamps[key] if stamps and key in stamps else self._content_stamp(*key)
                        )
                    line = _log_line(text, stamp)
                fd = self._log_fds.get(bucket)
                if fd is None:
                    # Deleted meanwhile (its folder is gone), or the store was moved aside.
                    if bucket not in self.buckets or self._moved:
                        continue
                    fd = self._open_log(bucket)
                write_all(fd, line)
                if self._group is None:
                    os.fsync(fd)
            if self._group is not None:
                self._group.written()

    def _open_log(self, bucket: str) -> int:
        """The bucket's log, open for appends (created, with its folder, if new). Log lock held."""
        path = self._log_file(bucket)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # the bucket's first record
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, flags, 0o600)
            if self._group is None:
                fsync_directory(Path(path).parent)
        self._log_fds[bucket] = fd
        return fd

    def _close_log(self, bucket: str) -> None:
        with self._log_lock:
            fd = self._log_fds.pop(bucket, None)
            if fd is not None:
                os.close(fd)

    def close(self, *, moved: bool = False) -> None:
        """Closes the logs' and packs' descriptors. A record or content written later opens
        its file again, unless the store was `moved` aside (a reset): a late upload's record
        is then not written into what is at this path now (nor its content: refused)."""
        self._moved = self._moved or moved
        for bucket in list(self._log_fds):
            self._close_log(bucket)
        for bucket in list(self._packs):
            self._close_pack(bucket)

    def _log_file(self, bucket: str) -> str:
        """The bucket's record log (RECORD_LOG in its folder)."""
        return os.path.join(self._objects_root_str, bucket, RECORD_LOG)

    def _records_dir(self, bucket: str) -> Path:
        return self._store._disk_path(f"{OBJECTS_DIR}/{bucket}")

    def _name_file(self, bucket: str, name: str, suffix: str) -> Path:
        return Path(self._name_file_str(bucket, name, suffix))

    def _name_file_str(self, bucket: str, name: str, suffix: str) -> str:
        """`_name_path`'s file, joined without the package's normalisation (no part of it is
        empty, `.` or `..`: bucket names are checked, the rest is a hash); a str, for an
        import's thousands of lookups (a Path costs ~10 µs to make)."""
        digest = _name_digest(name)
        return os.path.join(self._objects_root_str, bucket, digest[:2], digest + suffix)

    def _content_stamp(self, bucket: str, name: str) -> Any:
        """Where the content is in its pack, or (size, mtime, inode) of the content file:
        every atomic write gives a new inode."""
        where = self._packed.get((bucket, name))
        if where is not None:
            return _place_json(where)
        try:
            st = self.content_path(bucket, name).stat()
        except FileNotFoundError:
            return None
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def _stored_layout(self) -> int:
        """The layout `.meta` was written in (LAYOUT for a new data directory)."""
        try:
            meta = json.loads(self._store.read_bytes(".meta"))  # valid: the package read it
        except FileNotFoundError:
            return LAYOUT
        layout = meta.get("layout", 1)
        if layout not in (1, 2, 3, LAYOUT):
            raise CorruptStateError(
                f"{self._store._disk_path('.meta')} has Cloud Storage layout {layout!r}, which "
                f"this emulator does not know (it writes layout {LAYOUT}): it was written by "
                "another version; start that version, or remove the data directory"
            )
        return layout

    def _check_bucket_names(self) -> None:
        """Refuses a bucket an earlier emulator created with a name Cloud Storage refuses.

        Such a name (`_objects`, `a/b`, `UPPER`) could be one of the store's folders, a path
        into another bucket, or another bucket's folder on a case-insensitive disk.
        """
        for name in self.buckets:
            problem = bucket_name_problem(name)
            if problem:
                raise CorruptStateError(
                    f"{self._store._disk_path('.meta')} lists bucket '{name}', created by an "
                    f"earlier emulator that did not check names ({problem}); Cloud Storage "
                    "refuses that name and the emulator cannot keep it apart from its own files: "
                    "remove that bucket from the file, or remove the data directory"
                )

    def _load_records(self) -> None:
        """Reads every record into memory, repairs what a crash left inconsistent and rewrites
        the logs that hold more than one line per name, or repaired names (see the class).

        Objects still in `.meta` (written by the package's own format) are moved to the logs;
        content files still in layout 1 are moved to their names' own files, and the record
        files of layout 2 into the logs.
        """
        in_meta = {(b, n) for b, objs in self.objects.items() for n in objs}
        in_meta |= {(b, n) for b, names in self.soft_deleted.items() for n in names}
        stamps, rewrite = self._read_logs()
        record_files = self._read_record_files(stamps) if self._layout < 3 else []
        rewrite |= {path.parent.parent.name for path in record_files}
        changed: set[tuple[str, str]] = set()
        if self._layout < 2:
            changed |= self._adopt_previous_layout()
        changed |= self._reconcile_content(stamps)
        rewrite |= {bucket for bucket, _ in changed | in_meta}
        old_packs = []
        for bucket in sorted(self.buckets):
            compacted = self._tidy_packs(bucket, stamps)
            if compacted:
                rewrite.add(bucket)
                old_packs += compacted
        for bucket in sorted(rewrite):
            self._rewrite_log(bucket, stamps)
        for path in old_packs:  # no record refers to them any more
            os.unlink(path)
        self._write_config_to_file()  # `.meta` (none written yet)
        if self._layout < LAYOUT:  # every record and content file is in place: mark it so
            if self._layout < 2:
                self._remove_previous_layout()
            self._remove_record_files(record_files)
            self._layout = LAYOUT
            self._write_config_to_file()

    def _read_logs(self) -> tuple[dict[tuple[str, str], list[int] | None], set[str]]:
        """Loads every bucket's log into memory; returns the content stamp each name's last
        record holds, and the buckets whose log must be rewritten (superseded lines, or an
        unfinished last line)."""
        stamps: dict[tuple[str, str], list[int] | None] = {}
        rewrite: set[str] = set()
        if not self._objects_root.is_dir():
            return stamps, rewrite
        for folder in sorted(p for p in self._objects_root.iterdir() if p.is_dir()):
            bucket = folder.name
            if bucket not in self.buckets:  # a crash while its bucket was being deleted
                shutil.rmtree(folder)
                continue
            path = Path(self._log_file(bucket))
            lines, finished = _read_log_lines(path)
            if not finished:
                log.warning(
                    "gs://%s: the last record of %s was not finished (the emulator stopped "
                    "within its write, before its answer); dropped",
                    bucket,
                    path,
                )
                rewrite.add(bucket)
            names = set()
            for number, line in enumerate(lines, 1):
                where = f"{path}, line {number},"
                key = self._apply_record(_parse_record(line, where), where, bucket, stamps)
                names.add(key)
            if len(names) != len(lines):
                rewrite.add(bucket)
        return stamps, rewrite

    def _read_record_files(self, stamps: dict) -> list[Path]:
        """Loads layout 2's record files (over the logs: a move to layout 3 interrupted after
        the logs were written leaves both, with the same records); returns them."""
        paths = sorted(self._objects_root.glob("*/*/*.json"))
        for path in paths:
            record = read_json(path)
            if record is not None:  # else gone since listed
                self._apply_record(record, str(path), path.parent.parent.name, stamps)
        return paths

    def _apply_record(
        self, record: Any, where: str, bucket_folder: str, stamps: dict
    ) -> tuple[str, str]:
        """Makes `record` (read from `where`, in `bucket_folder`) the state of its name."""
        try:
            if not isinstance(record, dict):
                raise TypeError(f"a JSON {type(record).__name__}, not an object")
            bucket, name = record["bucket"], record["name"]
            live, soft_deleted, content = record["object"], record["softDeleted"], record["content"]
            if bucket != bucket_folder or not isinstance(name, str):
                raise TypeError("not in its bucket's folder")
            if isinstance(content, dict) and _pack_place(content) is None:
                raise TypeError("not a place in a pack")
        except (KeyError, TypeError):
            raise CorruptStateError(
                f"{where} is not an object record of the Cloud Storage emulator; "
                "restore it or remove it"
            ) from None
        key = (bucket, name)
        if live is not None:
            self.objects.setdefault(bucket, {})[name] = live
        else:
            self.objects.get(bucket, {}).pop(name, None)
        if soft_deleted:
            self.soft_deleted.setdefault(bucket, {})[name] = soft_deleted
        else:
            self.soft_deleted.get(bucket, {}).pop(name, None)
        stamps[key] = content
        return key

    def _reconcile_content(self, stamps: dict) -> set[tuple[str, str]]:
        """Drops objects whose content is missing, repairs those whose content is newer;
        `stamps` becomes where every live object's content is (its pack's place, or the
        stat of its file)."""
        changed = set()
        pack_sizes: dict[str, int] = {}
        for bucket, objects in self.objects.items():
            files = self._has_content_files(bucket)
            for name, obj in list(objects.items()):
                place = _pack_place(stamps.get((bucket, name)))
                if place is not None:
                    path = self._pack_file(bucket, place[0])
                    if path not in pack_sizes:
                        pack_sizes[path] = file_size(path)
                    if pack_sizes[path] < place[1] + place[2]:
                        log.warning(
                            "gs://%s/%s: content missing after a crash (%s is shorter than its "
                            "record says); dropped",
                            bucket,
                            name,
                            path,
                        )
                        del objects[name]
                        changed.add((bucket, name))
                        continue
                    self._packed[(bucket, name)] = place
                    if files:  # a larger content's upload to the name that was not answered
                        # (the crash came before its record), or the file a packed one replaced
                        Path(self.content_file(bucket, name)).unlink(missing_ok=True)
                    continue
                stamp = self._content_stamp(bucket, name)
                if stamp is None:
                    log.warning("gs://%s/%s: content missing after a crash; dropped", bucket, name)
                    del objects[name]
                    changed.add((bucket, name))
                elif stamp != stamps.get((bucket, name)):
                    # Written after the record (or by an older format): check it really is
                    # the content the record describes.
                    _repair_checksums(bucket, name, obj, self.content_path(bucket, name))
                    changed.add((bucket, name))
                stamps[(bucket, name)] = stamp
        return changed

    def _has_content_files(self, bucket: str) -> bool:
        """Whether the bucket's folder holds content files (in two-hex-digit folders)."""
        try:
            names = os.listdir(self._records_dir(bucket))
        except FileNotFoundError:
            return False
        return any(len(name) == 2 for name in names)

    def _tidy_packs(self, bucket: str, stamps: dict) -> list[str]:
        """Removes the bucket's packs no record refers to (but the last, which appends go
        to), and compacts the rest when most of their bytes are no longer referred to: the
        live contents copied into a new pack, synced, `stamps` pointed there. Returns the
        packs to remove once the log is rewritten."""
        numbers = self._pack_numbers(bucket)
        if not numbers:
            return []
        places = {k: v for k, v in self._packed.items() if k[0] == bucket}
        used = {place[0] for place in places.values()}
        for number in numbers[:-1]:
            if number not in used:
                os.unlink(self._pack_file(bucket, number))
        numbers = [n for n in numbers[:-1] if n in used] + numbers[-1:]
        live = sum(place[2] for place in places.values())
        total = sum(file_size(self._pack_file(bucket, n)) for n in numbers)
        if total - live <= max(live, COMPACT_MIN_BYTES):
            return []
        number = numbers[-1] + 1
        moved = sorted(places.items(), key=lambda item: item[1])
        offsets = write_pack(  # synced before the log that points there
            self._pack_file(bucket, number),
            [(self._pack_file(bucket, k), at, size) for _, (k, at, size) in moved],
        )
        for (key, (_, _, size)), offset in zip(moved, offsets, strict=True):
            self._packed[key] = (number, offset, size)
            stamps[key] = _place_json(self._packed[key])
        log.info("gs://%s: packs compacted (%d of %d bytes still referred to)", bucket, live, total)
        return [self._pack_file(bucket, n) for n in numbers]

    def _rewrite_log(self, bucket: str, stamps: dict) -> None:
        """Replaces the bucket's log with one line per name held (atomically, synced)."""
        live = self.objects.get(bucket, {})
        soft = self.soft_deleted.get(bucket, {})
        lines = []
        for name in sorted(set(live) | set(soft)):
            obj = live.get(name)
            text = _record_text(bucket, name, _compact(obj), soft.get(name) or {})
            lines.append(_log_line(text, stamps.get((bucket, name)) if obj is not None else None))
        self._close_log(bucket)
        path = Path(self._log_file(bucket))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, b"".join(lines))

    def _remove_record_files(self, paths: list[Path]) -> None:
        """Removes layout 2's record files (every one is in a log now), durably."""
        for path in paths:
            path.unlink(missing_ok=True)
        if self._group is not None:
            self._group.sync()
        else:
            os.sync()

    def _adopt_previous_layout(self) -> set[tuple[str, str]]:
        """Moves layout 1's content files (at paths made of names) to their names' own files.

        In layout 1 every name that maps to one path (`a/b`, `/a/b`, `a//b`, `a/b/`) shared
        one file, which holds the bytes of the last write among them: the name with the
        highest generation keeps it, the others are dropped (their bytes were overwritten).
        Rerun safely after a crash: a name whose own file exists was moved already.
        Returns the names whose records must be written again.
        """
        sharing: dict[Path, list[tuple[str, str]]] = {}
        for bucket, objects in self.objects.items():
            for name in objects:
                if self.content_path(bucket, name).exists():
                    continue
                try:
                    old = self._store._disk_path(Storage._object_path(self, bucket, name))
                except ValueError:  # a `..` segment: layout 1 never stored it
                    continue
                sharing.setdefault(old, []).append((bucket, name))
        dropped = set()
        for old, names in sharing.items():
            if not old.is_file():  # missing, or a folder (`p` when `p/q` was written first)
                continue
            owner = max(names, key=lambda n: int(self.objects[n[0]][n[1]].get("generation") or 0))
            new = self.content_path(*owner)
            new.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)  # keeps inode and mtime: the record's stamp still matches
            fsync_directory(new.parent)
            fsync_directory(old.parent)
            for bucket, name in names:
                if (bucket, name) != owner:
                    log.warning(
                        "gs://%s/%s: its content was overwritten by gs://%s/%s, which shared "
                        "its file in the previous layout; dropped",
                        bucket,
                        name,
                        *owner,
                    )
                    del self.objects[bucket][name]
                    dropped.add((bucket, name))
        return dropped

    def _remove_previous_layout(self) -> None:
        """Removes layout 1's bucket folders: what is left in them no record refers to."""
        for bucket in self.buckets:
            folder = self._store._disk_path(bucket)  # a checked name: never the store's own
            if folder.is_dir():
                shutil.rmtree(folder)

    def content_path(self, bucket: str, name: str) -> Path:
        return self._name_file(bucket, name, ".data")

    def content_file(self, bucket: str, name: str) -> str:
        """`content_path` as a str."""
        return self._name_file_str(bucket, name, ".data")

    def content_location(self, bucket: str, name: str) -> ContentLocation:
        """Where a live object's content is: a range of its bucket's pack, or its file.
        Lock held."""
        where = self._packed.get((bucket, name))
        if where is None:
            return ContentLocation(self.content_file(bucket, name))
        return ContentLocation(self._pack_file(bucket, where[0]), where[1], where[2])


def _place_json(place: tuple[int, int, int]) -> dict[str, int]:
    """A packed content's place as its record holds it (read back by `_pack_place`)."""
    return {"pack": place[0], "offset": place[1], "size": place[2]}


def _pack_place(content: Any) -> tuple[int, int, int] | None:
    """(pack number, offset, size) of a record's packed content; None if it is not one."""
    if not isinstance(content, dict) or set(content) != {"pack", "offset", "size"}:
        return None
    place = (content["pack"], content["offset"], content["size"])
    if not all(type(v) is int and v >= 0 for v in place):
        return None
    return place


def _compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


def _record_text(bucket: str, name: str, object_json: str, soft_deleted: dict) -> str:
    """A name's record without its content stamp (`object_json`: its live resource, or null)."""
    return (
        f'{{"bucket":{json.dumps(bucket)},"name":{json.dumps(name)},"object":{object_json},'
        f'"softDeleted":{_compact(soft_deleted)}}}'
    )


def _log_line(text: str, stamp: list[int] | None) -> bytes:
    """A log line: the record `text` with the stat of the content it describes."""
    return f'{text[:-1]},"content":{_compact(stamp)}}}\n'.encode()


def _read_log_lines(path: Path) -> tuple[list[bytes], bool]:
    """The finished lines of a log (none if there is no log), and whether its last line was
    finished (no bytes after the last newline)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], True
    lines = raw.split(b"\n")
    return lines[:-1], not lines[-1]


def _parse_record(line: bytes, where: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise CorruptStateError(
            f"{where} is not valid JSON ({exc}); the emulator only appends whole lines to its "
            "record logs, so it was changed by something else: restore the file or remove it"
        ) from None


@functools.lru_cache(maxsize=4096)  # an upload names its content file, then its record
def _name_digest(name: str) -> str:
    # surrogatepass: never fails, and equals strict UTF-8 for every name that can be stored.
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _name_path(bucket: str, name: str, suffix: str) -> str:
    """`_objects/<bucket>/<hh>/<sha256(name)><suffix>`, relative to the store."""
    digest = _name_digest(name)
    return f"{OBJECTS_DIR}/{bucket}/{digest[:2]}/{digest}{suffix}"


def media_link(base_url: str, bucket: str, name: str, generation: object) -> str:
    """The object's download URL, its name percent-encoded as Cloud Storage encodes it.

    The package puts the raw name in the URL, where `?`, `#`, `%2F` or a trailing `/` make
    it another name or no route at all.
    """
    return (
        f"{base_url}/download/storage/v1/b/{bucket}/o/{quote(name, safe='~')}"
        f"?generation={generation}&alt=media"
    )


def _quote_links(bucket: str, name: str, obj: dict) -> None:
    """Percent-encodes the name in the links of an object resource the package made."""
    link = obj.get("mediaLink")
    if isinstance(link, str) and "/download/" in link:
        base_url = link[: link.index("/download/")]
        obj["mediaLink"] = media_link(base_url, bucket, name, obj.get("generation"))
    if "selfLink" in obj:
        obj["selfLink"] = f"/storage/v1/b/{bucket}/o/{quote(name, safe='~')}"


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
