"""Crash-safe files: every write goes to a temporary file, is fsynced, then renamed into place.

A reader (or a restarted emulator after `kill -9`) sees either the old or the new content,
never a torn file. Leftover temporary files of an interrupted write are removed on start.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".emulator-partial"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` atomically and durably (tmp + fsync + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_json(path: Path, document: Any) -> None:
    atomic_write_bytes(path, json.dumps(document, separators=(",", ":")).encode("utf-8"))


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
