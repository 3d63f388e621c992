"""Imported images, content-addressed by sha256.

ImportData copies each image into the service (as AutoML does), so a dataset keeps working
when its source objects change or disappear, and identical content is stored once.

Layout of the store (`<state>/images/`):
- `images-<k>.pack`: images appended one after another (persistence.PackFile), to the highest k;
- `index`: one line per image, `<sha256> <k> <offset> <size>`, appended after its bytes;
- `<sha[:2]>/<sha256>`: a file per image, as earlier emulators stored them (read, never written).
An image costs an append instead of a file create: on a disk where a create is slow (ext4
without a journal passes over inodes freed in the last minutes), an import of 10,000 images
spent seconds creating their files.

Crash rules: an image's bytes are appended before its index line, both synced by the group
(and `sync()`, which an import calls before its dataset refers to the images). On open, an
unfinished last index line is dropped (the process died within its append), as is a line whose
bytes are not all in its pack (the machine crashed before the sync: no dataset refers to it);
the index is then rewritten (atomically). A finished line that is not an index line is
refused, naming the file and line. Packs are compacted on open when most of their bytes belong
to images no dataset refers to any more (`retain_only` drops them from the index): the kept
images copied into a new pack (synced), the index rewritten to point there, then the old packs
removed; a crash in between leaves a pack the index does not name, removed on the next open.
"""

import hashlib
import logging
import os
import re
import threading
from pathlib import Path

from emulator.core.errors import Internal
from emulator.core.persistence import (
    CorruptStateError,
    GroupSync,
    PackFile,
    atomic_write_bytes,
    file_size,
    pack_numbers,
    read_range,
    write_pack,
)

log = logging.getLogger(__name__)

INDEX = "index"
PACK_PREFIX, PACK_SUFFIX = "images-", ".pack"
# On open, packs are compacted when the bytes of images no longer indexed exceed both the
# indexed bytes and this.
COMPACT_MIN_BYTES = 1 << 20
_LINE = re.compile(rb"([0-9a-f]{64}) (\d+) (\d+) (\d+)")

Place = tuple[int, int, int]  # (pack number, offset, size)


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
        self._index: dict[str, Place] | None = None  # read on first use
        self._pack: tuple[int, PackFile] | None = None
        self._index_file: PackFile | None = None
        self._files = False  # whether images of earlier emulators (a file each) are kept

    # ---- reading the store -------------------------------------------------------------------

    def load(self) -> None:
        """Reads the index and tidies the store (see the module); else done on first use."""
        self._places()

    def _places(self) -> dict[str, Place]:
        """The index, read (and tidied: see the module) on first use."""
        index = self._index
        if index is None:
            with self.lock:
                if self._index is None:
                    self._index = self._open()
                index = self._index
        return index

    def _open(self) -> dict[str, Place]:
        self._files = self._root.is_dir() and any(
            p.is_dir() and len(p.name) == 2 for p in self._root.iterdir()
        )
        places, rewrite = self._read_index()
        sizes = {n: file_size(self._pack_path(n)) for n in self._pack_numbers()}
        for sha, (number, offset, size) in list(places.items()):
            if sizes.get(number, 0) < offset + size:
                log.warning(
                    "imported image %s: its bytes are not all in %s (a crash before they were "
                    "synced, so no dataset refers to it); dropped",
                    sha,
                    self._pack_path(number),
                )
                del places[sha]
                rewrite = True
        old_packs = self._compact(places, sizes)
        if rewrite or old_packs:
            self._write_index(places)
        for number in sizes:  # packs the index does not name (but the last: appends go there)
            if number != max(sizes) and all(p[0] != number for p in places.values()):
                os.unlink(self._pack_path(number))
        for path in old_packs:
            Path(path).unlink(missing_ok=True)
        return places

    def _read_index(self) -> tuple[dict[str, Place], bool]:
        """The index's lines, and whether it must be rewritten (an unfinished last line)."""
        path = self._root / INDEX
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}, False
        lines = raw.split(b"\n")
        unfinished = lines.pop() != b""
        if unfinished:
            log.warning(
                "%s: the last line was not finished (the emulator stopped within its write, "
                "before the import that wrote it was committed); dropped",
                path,
            )
        places: dict[str, Place] = {}
        for number, line in enumerate(lines, 1):
            match = _LINE.fullmatch(line)
            if match is None:
                raise CorruptStateError(
                    f"{path}, line {number}, is not an index line of the emulator's image "
                    "store (`<sha256> <pack> <offset> <size>`); the emulator only appends whole "
                    "lines, so it was changed by something else: restore the file or remove "
                    "the data directory"
                )
            sha, pack, offset, size = match.groups()
            places[sha.decode()] = (int(pack), int(offset), int(size))
        return places, unfinished

    def _compact(self, places: dict[str, Place], sizes: dict[int, int]) -> list[str]:
        """Copies the indexed images into a new pack when most pack bytes are no longer
        indexed (synced; `places` pointed there); returns the packs to remove once the index
        is rewritten."""
        kept = sum(place[2] for place in places.values())
        total = sum(sizes.values())
        if total - kept <= max(kept, COMPACT_MIN_BYTES):
            return []
        number = max(sizes) + 1
        moved = sorted(places.items(), key=lambda item: item[1])
        offsets = write_pack(  # synced before the index that points there
            self._pack_path(number),
            [(self._pack_path(k), at, size) for _, (k, at, size) in moved],
        )
        for (sha, (_, _, size)), offset in zip(moved, offsets, strict=True):
            places[sha] = (number, offset, size)
        log.info("imported images compacted (%d of %d bytes still referred to)", kept, total)
        replaced = [self._pack_path(n) for n in sizes]
        sizes.clear()
        sizes[number] = kept
        return replaced

    def _write_index(self, places: dict[str, Place]) -> None:
        """Replaces the index with `places` (atomically, synced); closes the appender."""
        if self._index_file is not None:
            self._index_file.close()
            self._index_file = None
        lines = b"".join(_index_line(sha, place) for sha, place in sorted(places.items()))
        self._root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._root / INDEX, lines)

    def _pack_numbers(self) -> list[int]:
        return pack_numbers(self._root_str, PACK_PREFIX, PACK_SUFFIX)

    def _pack_path(self, number: int) -> str:
        return os.path.join(self._root_str, f"{PACK_PREFIX}{number}{PACK_SUFFIX}")

    def _file(self, sha256: str) -> str:
        """An image as earlier emulators stored it: a file of its own."""
        return os.path.join(self._root_str, sha256[:2], sha256)

    # ---- the store's use ---------------------------------------------------------------------

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Stores `data` (once per content) and returns its sha256 (`sha256`: `data`'s, when
        the caller has it already). Caller holds `lock`."""
        sha = sha256 or sha256_hex(data)
        places = self._places()
        if sha in places or (self._files and os.path.exists(self._file(sha))):
            return sha
        if self._pack is None:
            number = max(self._pack_numbers(), default=1)
            self._pack = (number, PackFile(self._pack_path(number), self._group))
        if self._index_file is None:
            self._index_file = PackFile(str(self._root / INDEX), self._group)
        number, pack = self._pack
        place = (number, pack.append(data), len(data))
        self._index_file.append(_index_line(sha, place))
        places[sha] = place
        return sha

    def sync(self) -> None:
        """Makes the images put so far durable (one sync for all of them)."""
        if self._group is not None:
            self._group.sync()

    def read(self, sha256: str) -> bytes:
        place = self._places().get(sha256)
        try:
            if place is not None:
                return read_range(self._pack_path(place[0]), place[1], place[2])
            return Path(self._file(sha256)).read_bytes()
        except FileNotFoundError:
            raise Internal(
                f"imported image {sha256} is missing from the emulator's data directory"
            ) from None

    def retain_only(self, referenced: set[str]) -> int:
        """Deletes every image not in `referenced`; returns how many (their bytes in a pack
        are dropped when it is next compacted). Caller holds `lock`."""
        removed = 0
        places = self._places()
        dropped = [sha for sha in places if sha not in referenced]
        for sha in dropped:
            del places[sha]
        if dropped:
            self._write_index(places)
            removed += len(dropped)
        if not self._files:
            return removed
        for path in self._root.glob("??/*"):
            if path.is_file() and path.name not in referenced and not path.name.startswith("."):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        """Closes the pack and index files (reopened by the next put)."""
        with self.lock:
            if self._pack is not None:
                self._pack[1].close()
                self._pack = None
            if self._index_file is not None:
                self._index_file.close()
                self._index_file = None


def _index_line(sha: str, place: Place) -> bytes:
    return f"{sha} {place[0]} {place[1]} {place[2]}\n".encode()
