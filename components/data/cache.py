"""Stat-based cache of per-file scan results, so a no-op diff does not re-read every byte.

Like git's index: a file whose (size, mtime, ctime, inode, device) is unchanged is not read
again. A zip archive is one unit: its members are re-read when the archive's own stat
changes (and each member is keyed by its CRC and size).
"""

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

CACHE_VERSION = 2  # 2: stamps hold ctime and device (v1 entries never match; re-read once)


def file_stamp(st: os.stat_result) -> tuple[int, ...]:
    """What identifies a file's content version without reading it, as git's index does.

    mtime alone can be put back (`cp -p`, `rsync -t`, `tar -x`, `os.utime`) after new bytes
    of the same size were written in place; ctime is set by the kernel on every change and
    cannot be, and inode plus device tell a replaced or moved file apart.
    """
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def cache_dir() -> Path:
    return Path(os.environ.get("EDGE_LABELER_CACHE_DIR", ".edge-labeler/cache"))


class ScanCache:
    """Per-source mapping name → (stamp, result); written atomically by `save()`."""

    def __init__(self, source: Path | str, source_stamp: tuple[int, ...] | None):
        """`source`: a local path, or a URI (a gs:// CSV index) whose items have own stamps."""
        ident = str(source.resolve()) if isinstance(source, Path) else source
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        self.path = cache_dir() / f"scan-{key}.json"
        self.source_stamp = list(source_stamp) if source_stamp is not None else None
        self._entries: dict[str, list[Any]] = {}
        self._fresh: dict[str, list[Any]] = {}
        self._lock = threading.Lock()  # `forget` runs in upload threads
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if data.get("version") == CACHE_VERSION and data.get("source") == self.source_stamp:
            self._entries = data.get("entries", {})

    def get(self, name: str, stamp: tuple[int, ...]) -> Any | None:
        hit = self._entries.get(name)
        if hit is not None and hit[0] == list(stamp):
            self._fresh[name] = hit
            return hit[1]
        return None

    def put(self, name: str, stamp: tuple[int, ...], result: Any) -> None:
        self._fresh[name] = [list(stamp), result]

    def forget(self, name: str) -> None:
        """Drops an entry (on disk too) whose file no longer holds what the entry says.

        A stamp can miss a change (new bytes written within the file system's timestamp
        tick of the scan, as git's "racily clean" files): the next scan then reads it again.
        """
        with self._lock:
            self._entries.pop(name, None)
            self._fresh.pop(name, None)
            self._write()

    def save(self) -> None:
        """Keeps only what this scan saw; failures to write are not fatal (it is a cache)."""
        with self._lock:
            if self._fresh == self._entries:
                return  # all hits: rewriting ~70 bytes per image on every no-op scan is wasted
            self._write()

    def _write(self) -> None:
        payload = {"version": CACHE_VERSION, "source": self.source_stamp, "entries": self._fresh}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".scan-")
            with os.fdopen(fd, "w") as fh:
                json.dump(payload, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass
