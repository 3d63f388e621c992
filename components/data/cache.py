"""Stat-based cache of per-file scan results, so a no-op diff does not re-read every byte.

Like git's index: a file whose (size, mtime, ctime, inode) is unchanged is not read again.
A zip archive is one unit: its members are re-read when the archive's own stat changes.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_VERSION = 1


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

    def save(self) -> None:
        """Keeps only what this scan saw; failures to write are not fatal (it is a cache)."""
        if self._fresh == self._entries:
            return  # all hits: rewriting ~70 bytes per image on every no-op scan is wasted
        payload = {"version": CACHE_VERSION, "source": self.source_stamp, "entries": self._fresh}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".scan-")
            with os.fdopen(fd, "w") as fh:
                json.dump(payload, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass
