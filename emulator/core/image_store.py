"""Imported images, content-addressed by sha256.

ImportData copies each image into the service (as AutoML does), so a dataset keeps working
when its source objects change or disappear, and identical content is stored once.
"""

import hashlib
import os
import threading
from pathlib import Path

from emulator.core.blobs import ContentFile
from emulator.core.errors import Internal
from emulator.core.persistence import GroupSync, atomic_write_bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    def __init__(self, root: Path, group: GroupSync | None = None) -> None:
        self._root = root
        self._root_str = str(root)
        self._group = group  # images are synced in a group (the dataset's commit is not)
        # Held while an import writes its images and commits, and while unreferenced images
        # are removed, so a collection never deletes an image an import is about to reference.
        self.lock = threading.RLock()

    def _path(self, sha256: str) -> Path:
        return Path(self._file(sha256))

    def _file(self, sha256: str) -> str:
        return os.path.join(self._root_str, sha256[:2], sha256)

    def put(
        self, data: bytes, linked_from: ContentFile | None = None, sha256: str | None = None
    ) -> str:
        """Stores `data` (once per content) and returns its sha256.

        `sha256`: `data`'s, when the caller has it already. `linked_from`: the file `data` was
        read from (a Cloud Storage object's content file). It is hard-linked rather than
        copied: a new file costs ~15 times a link here (the disk blocks are allocated and
        written). The link is kept only if it is that very file as
        it was read (device, inode, size, mtime: the object store never writes into a content
        file, a new content is a new file renamed over the name), and replaced by a copy of
        `data` otherwise, or when it cannot be linked (another file system, no hard links).
        """
        sha = sha256 or sha256_hex(data)
        path = self._file(sha)
        if linked_from is not None and self._link(linked_from, path):
            return sha
        if not os.path.exists(path):
            atomic_write_bytes(Path(path), data, self._group)
        return sha

    def _link(self, source: ContentFile, path: str) -> bool:
        """Whether `path` holds the image now: linked to `source`, or there already (the
        same content, by its name)."""
        try:
            try:
                os.link(source.path, path)
            except FileNotFoundError:  # the first image of its folder (or `source` is gone)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.link(source.path, path)
        except FileExistsError:
            return True
        except OSError:
            return False
        try:
            if not source.is_file(os.lstat(path)):  # replaced since it was read
                os.unlink(path)
                return False
        except OSError:
            return False
        if self._group is not None:
            self._group.written()
        return True

    def sync(self) -> None:
        """Makes the images put so far durable (one sync for all of them)."""
        if self._group is not None:
            self._group.sync()

    def read(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise Internal(
                f"imported image {sha256} is missing from the emulator's data directory"
            ) from None

    def retain_only(self, referenced: set[str]) -> int:
        """Deletes every image not in `referenced`; returns how many. Caller holds `lock`."""
        removed = 0
        if not self._root.exists():
            return 0
        for path in self._root.glob("??/*"):
            if path.is_file() and path.name not in referenced and not path.name.startswith("."):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
