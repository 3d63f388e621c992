"""Crash-safe files: every write goes to a temporary file, then is renamed into place.

A reader (or a restarted emulator after `kill -9`) sees either the old or the new content,
never a torn file: the rename is the only step that changes what `path` holds. Leftover
temporary files of an interrupted write are removed on start.

Durability against a machine crash (power loss, kernel panic) comes in two strengths:
- `atomic_write_bytes(path, data)`: fsync of the file before the rename and of the directory
  after it; on disk when the call returns. For state written now and then (operations,
  datasets, models).
- `atomic_write_bytes(path, data, group)` with a `GroupSync`: no fsync per file; the group
  syncs the data directory's file system (one `syncfs`) at most `interval` seconds after a
  write, and on close. For what is written per object or image (Cloud Storage objects, the
  imported images) or per percent (an operation's progress): thousands of writes cost one
  sync a second instead of four each.
"""

import ctypes
import itertools
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".emulator-partial"
# Seconds between group syncs: what a machine crash can lose of acknowledged grouped writes.
GROUP_SYNC_SECONDS = 1.0


class GroupSync:
    """Makes grouped writes durable together: one sync of the file system holding `root`
    at most `interval` s after a write (a background thread), and on `close()`."""

    def __init__(self, root: Path, interval: float = GROUP_SYNC_SECONDS) -> None:
        self._root = root
        self._interval = interval
        self._dirty = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="group-sync", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A grouped write was made (renamed into place, not yet synced)."""
        with self._changed:
            self._dirty = True

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                self._changed.wait(self._interval)
                if self._dirty:
                    self._dirty = False
                    self._changed.release()  # writers go on while the disk syncs
                    try:
                        self.sync()
                    finally:
                        self._changed.acquire()

    def sync(self) -> None:
        """Flushes everything written under `root` so far (syncfs; sync where there is none)."""
        syncfs = getattr(_libc(), "syncfs", None)
        if syncfs is None:
            os.sync()
            return
        fd = os.open(self._root, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                log.warning("syncfs of %s failed: %s", self._root, os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)

    def close(self) -> None:
        """Stops the timer and syncs what is left (a clean shutdown loses nothing)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._changed:
            dirty, self._dirty = self._dirty, False
        if dirty:
            self.sync()


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class Staged(NamedTuple):
    """A temporary file written beside its destination, and its stat: a rename keeps the
    inode, size and modification time, so this is also the stat of the file it becomes."""

    path: Path
    stat: os.stat_result


def stage_bytes(path: Path, data: bytes, group: GroupSync | None = None) -> Staged:
    """Writes `data` to a new temporary file beside `path` (fsynced unless grouped); the caller
    renames it into place with `commit_staged`, or deletes it. No lock is needed to stage:
    the name is this process's and thread's own (a leftover of a crash is removed on start)."""
    tmp = path.with_name(f".{path.name}.{_unique()}{TEMP_SUFFIX}")
    try:
        fd = os.open(tmp, _STAGE_FLAGS, 0o600)
    except FileNotFoundError:  # the first file of its folder
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, _STAGE_FLAGS, 0o600)
    try:
        write_all(fd, data)
        if group is None:
            os.fsync(fd)
        stat = os.fstat(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return Staged(tmp, stat)


def write_all(fd: int, data: bytes) -> None:
    """Writes all of `data` to `fd` (at its offset, or at the end with O_APPEND)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_STAGE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_serial = itertools.count()
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _unique() -> str:
    """A temporary file's tag, unique among this process's writes (pid, thread, serial)."""
    return f"{_pid}-{threading.get_ident()}-{next(_serial)}"


class PackFile:
    """A file that small contents are appended to, one after another: each append returns
    where its bytes start, and bytes once written are never written again (a new content is
    appended; what is no longer referred to stays until the owner copies the rest into a new
    pack). On a disk where a file create is slow (ext4 without a journal passes over inodes
    freed in the last minutes), an append costs a write where a file per content cost a
    create and a rename.

    Appends are durable with the group's next sync (`group`), or now (fsync) without one; a
    crash within an append, or before the sync, leaves the file shorter or with bytes past
    the last one its owner recorded: the owner checks its records against the file's size on start.
    Thread-safe; the bytes of one append are contiguous.
    """

    def __init__(self, path: str, group: GroupSync | None = None) -> None:
        self.path = path
        self._group = group
        self._lock = threading.Lock()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # the first pack of its folder
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._fd = os.open(path, flags, 0o600)
            if group is None:
                fsync_directory(Path(path).parent)
        self._size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> int:
        """Appends `data`; returns its offset. OSError (no space) leaves nothing referable."""
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path} is closed")
            offset = self._size
            try:
                write_all(self._fd, data)
            except BaseException:
                self._size = os.fstat(self._fd).st_size  # a partial write is never referred to
                raise
            self._size += len(data)
            if self._group is None:
                os.fsync(self._fd)
        if self._group is not None:
            self._group.written()
        return offset

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def pack_numbers(folder: str, prefix: str, suffix: str) -> list[int]:
    """The numbers k of the packs `<prefix><k><suffix>` in `folder`, ascending."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        digits = name[len(prefix) : -len(suffix)]
        if name.startswith(prefix) and name.endswith(suffix) and digits.isdigit():
            found.append(int(digits))
    return sorted(found)


def write_pack(path: str, ranges: list[tuple[str, int, int]]) -> list[int]:
    """A new pack at `path` holding the bytes of `ranges` (file, offset, size), one after
    another, synced with its folder; returns where each starts. What compacts a pack."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    offsets = []
    try:
        offset = 0
        for source, at, size in ranges:
            write_all(fd, read_range(source, at, size))
            offsets.append(offset)
            offset += size
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(Path(path).parent)
    return offsets


def file_size(path: str) -> int:
    """The size of the file at `path`; 0 when there is none (a pack not made yet, or removed)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def read_range(path: str, offset: int, size: int) -> bytes:
    """`size` bytes of `path` from `offset`; FileNotFoundError when the file or the bytes are
    not there (a pack shorter than a record says: a crash before the group's sync)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        data = os.pread(fd, size, offset)
    finally:
        os.close(fd)
    if len(data) != size:
        raise FileNotFoundError(f"{path} holds {len(data)} of the {size} bytes at {offset}")
    return data


def commit_staged(staged: Path, path: Path, group: GroupSync | None = None) -> None:
    """Renames a staged file over `path`: atomic; durable now, or with the group's next sync."""
    try:
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    if group is None:
        fsync_directory(path.parent)
    else:
        group.written()


def atomic_write_bytes(path: Path, data: bytes, group: GroupSync | None = None) -> None:
    """Replaces `path` with `data` atomically (tmp + os.replace); durable on return (fsync of
    file and directory), or with the next sync of `group`."""
    commit_staged(stage_bytes(path, data, group).path, path, group)


def atomic_write_json(path: Path, document: Any, group: GroupSync | None = None) -> None:
    """`atomic_write_bytes` of `document` as compact JSON."""
    data = json.dumps(document, separators=(",", ":")).encode("utf-8")
    atomic_write_bytes(path, data, group)


class CorruptStateError(Exception):
    """A state file that is not what the emulator writes (edited by hand, or a foreign file)."""


def read_json(path: Path) -> Any | None:
    """The decoded document, or None when the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise CorruptStateError(
            f"{path} is not valid JSON ({exc}); the emulator writes its files atomically, so it "
            "was changed by something else: restore it or remove it (and what refers to it)"
        ) from None


def read_record(path: Path) -> dict[str, Any]:
    """The JSON object of a state file that must exist (one the emulator listed in its state
    directory); CorruptStateError naming the file when it is gone or not an object."""
    document = read_json(path)
    if document is None:
        raise CorruptStateError(
            f"{path} disappeared while the emulator was reading its state: only the emulator "
            "may change its data directory; start it again"
        )
    if not isinstance(document, dict):
        raise CorruptStateError(
            f"{path} holds a JSON {type(document).__name__} where the emulator writes an "
            "object; restore it or remove it (and what refers to it)"
        )
    return document


def remove_file(path: Path) -> None:
    """Deletes `path` (if present) and makes the deletion durable."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Persists a directory entry change (a rename or unlink) itself, not just the file data."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temp_files(root: Path) -> int:
    """Removes temporary files left by writes that a crash interrupted; returns how many."""
    if not root.exists():
        return 0
    removed = 0
    for path in root.rglob(f".*{TEMP_SUFFIX}"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
