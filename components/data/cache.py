"""Stat-based caches of a source's scan, so a no-op check does not re-read every byte.

Like git's index: a file whose (size, mtime, ctime, inode, device) is unchanged is not read
again. A zip archive is one unit: its members are re-read when the archive's own stat
changes (and each member is keyed by its CRC and size).

Two files per source, in `EDGE_LABELER_CACHE_DIR`:
- `scan-<source>.json`: per file, its stamp and what reading it found (sha256, format, size);
  read only when some file must be looked at;
- `summary-<source>.json`: the manifest's summary (fingerprint, counts, warnings) under
  the key of the whole scan: every name and stamp of the source (for a zip, the archive's own
  stamp), the options, and the rules' code. A check whose key matches reads nothing else.
A verified read that finds other bytes than a stamp promised (an edit within the file
system's timestamp tick) forgets that file's entry and the summary.
"""

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

CACHE_VERSION = 2  # 2: stamps hold ctime and device (v1 entries never match; re-read once)


# A file's stamp: size, mtime, ctime, inode, device (see file_stamp).
_STAMP = attrgetter("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev")


def file_stamp(st: os.stat_result) -> tuple[int, ...]:
    """What identifies a file's content version without reading it, as git's index does.

    mtime alone can be put back (`cp -p`, `rsync -t`, `tar -x`, `os.utime`) after new bytes
    of the same size were written in place; ctime is set by the kernel on every change and
    cannot be, and inode plus device tell a replaced or moved file apart.
    """
    stamp: tuple[int, ...] = _STAMP(st)
    return stamp


def file_stamps(stats: Iterable[os.stat_result]) -> Iterator[tuple[int, ...]]:
    """`file_stamp` of each, without a Python call per file."""
    return map(_STAMP, stats)


def cache_dir() -> Path:
    return Path(os.environ.get("EDGE_LABELER_CACHE_DIR", ".edge-labeler/cache"))


class ScanCache:
    """Per-source mapping name → (stamp, result), and the source's summary under its scan's
    key; written atomically (`save()`, `save_summary()`)."""

    def __init__(self, source: Path | str, source_stamp: tuple[int, ...] | None):
        """`source`: a local path, or a URI (a gs:// CSV index) whose items have own stamps."""
        ident = str(source.resolve()) if isinstance(source, Path) else source
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        self.path = cache_dir() / f"scan-{key}.json"
        self.summary_path = cache_dir() / f"summary-{key}.json"
        self.source_stamp = list(source_stamp) if source_stamp is not None else None
        self._loaded: dict[str, list[Any]] | None = None  # read on first use
        self._fresh: dict[str, list[Any]] = {}
        self._lock = threading.Lock()  # `forget` runs in upload threads

    @property
    def _entries(self) -> dict[str, list[Any]]:
        if self._loaded is None:
            self._loaded = {}
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                return self._loaded
            if data.get("version") == CACHE_VERSION and data.get("source") == self.source_stamp:
                self._loaded = data.get("entries", {})
        return self._loaded

    def get(self, name: str, stamp: tuple[int, ...]) -> Any | None:
        hit = self._entries.get(name)
        if hit is not None and hit[0] == list(stamp):
            self._fresh[name] = hit
            return hit[1]
        return None

    def put(self, name: str, stamp: tuple[int, ...], result: Any) -> None:
        self._fresh[name] = [list(stamp), result]

    def summary(self, key: str) -> Any | None:
        """The summary saved under `key`, or None (another key, or none saved)."""
        try:
            data = json.loads(self.summary_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return data.get("summary")

    def save_summary(self, key: str, summary: Any) -> None:
        """Keeps `summary` as what a scan with `key` finds (failures to write are ignored)."""
        with self._lock:
            _write_json(self.summary_path, {"key": key, "summary": summary})

    def forget(self, name: str) -> None:
        """Drops an entry (on disk too) whose file no longer holds what the entry says, and
        the summary, which counted it.

        A stamp can miss a change (new bytes written within the file system's timestamp
        tick of the scan, as git's "racily clean" files): the next scan then reads it again.
        """
        with self._lock:
            self.summary_path.unlink(missing_ok=True)
            self._entries.pop(name, None)
            self._fresh.pop(name, None)
            self._write()

    def save(self) -> None:
        """Keeps only what this scan saw; failures to write are not fatal (it is a cache)."""
        with self._lock:
            if self._loaded is not None and self._fresh == self._loaded:
                return  # all hits: rewriting ~70 bytes per image on every no-op scan is wasted
            self._write()

    def _write(self) -> None:
        payload = {"version": CACHE_VERSION, "source": self.source_stamp, "entries": self._fresh}
        _write_json(self.path, payload)


def _write_json(path: Path, payload: Any) -> None:
    """Replaces `path` atomically (a reader sees the old file or the new one); a cache, so a
    failure to write is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scan-")
        with os.fdopen(fd, "w") as fh:
            # json.dumps, not json.dump: dump streams through the pure-Python encoder (0.45 s
            # for the entries of 10,000 images here), dumps through the C one.
            fh.write(json.dumps(payload, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass
