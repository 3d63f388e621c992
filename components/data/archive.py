"""Safe reading of dataset sources (zip archives and directories) without extracting to disk.

Hostile input is refused before any byte is inflated: path traversal, absolute paths and
symlinks; more entries than `Limits.max_files`; two entries that name the same file (one
image would be read for the other); entries whose declared size exceeds the per-image
limit or whose compression ratio is implausible for images (zip bombs); a total declared
size over `Limits.max_total_bytes`. Reads are bounded by the declared sizes (zipfile stops
at `file_size` and checks the CRC), so a lying header cannot inflate more.

Hidden files and folders (`.git/`, `.DS_Store`, AppleDouble `._x`) and OS litter
(`__MACOSX/`, `Thumbs.db`, `desktop.ini`) are not images: they are skipped, and counted
in `Listing.skipped` so that the check can say so in one note.
"""

import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from pathlib import Path

from components.data.cache import file_stamp, file_stamps
from components.data.errors import DatasetError, Problem
from components.data.images import MAX_IMAGE_BYTES

# OS litter in people's image folders, besides hidden names (".git", ".DS_Store", "._x").
_SYSTEM_DIRS = {"__MACOSX"}
_SYSTEM_FILES = {"thumbs.db", "ehthumbs.db", "desktop.ini"}  # compared lower-case (Windows)
# How many skipped entries the note names before it only counts them.
_SKIPPED_EXAMPLES = 3


@dataclass(frozen=True)
class Limits:
    max_files: int = 1_000_000  # AutoML/Vertex image datasets hold up to 1M images
    max_total_bytes: int = 64 * 1024**3
    max_file_bytes: int = MAX_IMAGE_BYTES
    max_ratio: float = 100.0  # images barely compress; 100:1 is a bomb, not a photo
    ratio_min_bytes: int = 1024 * 1024  # small entries may compress well (flat icons)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SourceFile:
    """One file of a source. `stamp` identifies its content version for the stat cache."""

    name: str  # posix path inside the source, e.g. "digits/one/0001.png"
    size: int
    stamp: tuple[int, ...]
    _reader: Callable[[], bytes] = field(repr=False, compare=False)

    def read(self) -> bytes:
        return self._reader()


@dataclass(frozen=True)
class Listing:
    """The files of a source, and the hidden or system entries it skipped."""

    files: list[SourceFile]
    skipped: list[str]  # the outermost skipped entries, sorted; folders end in "/"

    def note(self, label: str) -> str | None:
        """One warning line naming how many entries were skipped, with a few examples."""
        if not self.skipped:
            return None
        n = len(self.skipped)
        shown = ", ".join(self.skipped[:_SKIPPED_EXAMPLES])
        more = ", …" if n > _SKIPPED_EXAMPLES else ""
        noun = "entry" if n == 1 else "entries"
        return f"{label}: skipped {n} hidden or system {noun} ({shown}{more})"


def _skipped(parts: tuple[str, ...], is_dir: bool = False) -> str | None:
    """The hidden or system entry that `parts` is or lies in (`a/.git/`), or None."""
    for depth, part in enumerate(parts):
        folder = is_dir or depth < len(parts) - 1
        if (
            part.startswith(".")
            or (folder and part in _SYSTEM_DIRS)
            or (not folder and part.lower() in _SYSTEM_FILES)
        ):
            return "/".join(parts[: depth + 1]) + ("/" if folder else "")
    return None


def _parts(name: str) -> tuple[str, ...]:
    """The components of a member name as `PurePosixPath(name).parts` gives them for a
    relative name (empty and `.` components dropped), without a path object per member:
    a zip of 10,000 images made 40,000 of them on every cold check."""
    return tuple(part for part in name.split("/") if part and part != ".")


def _duplicate_names(infos: list[zipfile.ZipInfo], label: str) -> list[Problem]:
    """Entries that name the same file once normalised (`a/b`, `./a/b`, `a//b`, twice `a/b`).

    Zip allows it, but a name is how an image is found again for its upload: two entries
    under one name would put one image's bytes under the other's content address.
    """
    by_file: dict[tuple[str, ...], list[str]] = {}
    for info in infos:
        by_file.setdefault(_parts(info.filename), []).append(info.filename)
    problems = []
    rule = "entry names must be unique, so that each names one image"
    for names in by_file.values():
        first = names[0]
        if names.count(first) > 1:
            problems.append(
                Problem(
                    f"{label}:{first}",
                    "duplicate-name",
                    f"the archive has {names.count(first)} entries named '{first}'; {rule}",
                )
            )
        for alias in dict.fromkeys(n for n in names if n != first):
            problems.append(
                Problem(
                    f"{label}:{alias}",
                    "duplicate-name",
                    f"names the same file as '{first}'; {rule}",
                )
            )
    return problems


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name is unsafe, or None."""
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "climbs out of the archive with '..'"
    if "\x00" in name:
        return "contains a NUL character"
    return None


def read_zip(path: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> Listing:
    """Lists the files of a zip safely; `label` is how errors name the archive."""
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DatasetError([Problem(label, "missing", "file not found")]) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(
            [Problem(label, "archive", f"is not a readable zip archive ({exc})")]
        ) from None
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        zf.close()
        raise DatasetError(
            [
                Problem(
                    label,
                    "too-many-files",
                    f"has {len(infos):,} entries; at most {limits.max_files:,} are allowed",
                )
            ]
        )
    kept, skipped, problems = _zip_entries(infos, label, limits)
    problems += _duplicate_names(kept, label)
    total = sum(info.file_size for info in kept)
    if total > limits.max_total_bytes:
        problems.append(
            Problem(
                label,
                "total-size",
                f"inflates to {total / 1024**3:.1f} GiB; at most "
                f"{limits.max_total_bytes / 1024**3:.0f} GiB are allowed",
            )
        )
    if problems:
        zf.close()
        raise DatasetError(problems)
    members = _Members(zf)
    files = [
        SourceFile(
            name=info.filename,
            size=info.file_size,
            stamp=(info.CRC, info.file_size),
            _reader=members.reader(info),
        )
        for info in kept
    ]
    return Listing(files, sorted(skipped))


def _zip_entries(
    infos: list[zipfile.ZipInfo], label: str, limits: Limits
) -> tuple[list[zipfile.ZipInfo], set[str], list[Problem]]:
    """The file entries kept, the hidden or system folders skipped, and the refused entries."""
    problems: list[Problem] = []
    kept: list[zipfile.ZipInfo] = []
    skipped: set[str] = set()
    for info in infos:
        where = f"{label}:{info.filename}"
        if problem := _unsafe_entry(info, where):
            problems.append(problem)
            continue
        if info.is_dir():
            continue
        if unit := _skipped(_parts(info.filename)):
            skipped.add(unit)  # never inflated, so neither its size nor its ratio matters
            continue
        if problem := _oversized_entry(info, where, limits) or _unreadable_entry(info, where):
            problems.append(problem)
            continue
        kept.append(info)
    return kept, skipped, problems


def _unsafe_entry(info: zipfile.ZipInfo, where: str) -> Problem | None:
    """Why an entry's name or kind is refused (traversal, absolute, link), or None."""
    reason = _unsafe_name(info.filename)
    if reason:
        return Problem(where, "unsafe-path", f"entry name {reason}; refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        return Problem(where, "symlink", "is a symbolic link; links are refused")
    return None


def _unreadable_entry(info: zipfile.ZipInfo, where: str) -> Problem | None:
    """Why a file entry cannot be read (encrypted, an unsupported method), or None."""
    if info.flag_bits & _ENCRYPTED:
        return Problem(where, "encrypted", _ENCRYPTED_MESSAGE)
    if info.compress_type not in _METHODS:
        allowed = ", ".join(_METHODS.values())
        return Problem(
            where,
            "compression",
            f"is compressed with method {info.compress_type}, which is not read; "
            f"allowed: {allowed}",
        )
    return None


def _oversized_entry(info: zipfile.ZipInfo, where: str, limits: Limits) -> Problem | None:
    """Why a file entry would inflate too much (over the image limit, a bomb's ratio), or None."""
    if info.file_size > limits.max_file_bytes:
        return Problem(
            where,
            "size",
            f"is {info.file_size / 1024**2:.1f} MB; each image must be 30 MB or smaller",
        )
    if info.file_size >= limits.ratio_min_bytes and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        return Problem(
            where,
            "zip-bomb",
            f"inflates {info.compress_size:,} bytes to {info.file_size:,} "
            f"(ratio over {limits.max_ratio:.0f}:1); refused as a zip bomb",
        )
    return None


class _Members:
    """Reads an archive's members by their central directory entries: one `pread` of the
    local header and the data, inflated with zlib, bounded by the declared size and checked
    against the CRC-32 — what `ZipFile.open` does, without its seek, its shared-file lock and
    its stream object per member (a cold check of a 10,000-image zip spent ~0.1 s in them:
    bench/bench_dataset_import.py). Thread-safe (`pread` has no file position). Members
    stored with another method than store and deflate go through `zipfile`.

    Every failure is a ValueError that says what is wrong with the member (the scan reports
    it as unreadable, naming the member); zipfile's own (BadZipFile, RuntimeError,
    NotImplementedError, EOFError) are not ValueErrors and would escape the scan."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        # The archive zipfile opened and read the central directory of: the same file even if
        # the path is replaced meanwhile, open as long as a reader holds `zf`. `pread` leaves
        # the file position, which zipfile's own reads use, alone.
        assert zf.fp is not None  # an open ZipFile made from a path
        self._zf = zf
        self._fd = zf.fp.fileno()

    def reader(self, info: zipfile.ZipInfo) -> Callable[[], bytes]:
        return partial(self.read, info)

    def read(self, info: zipfile.ZipInfo) -> bytes:
        if info.flag_bits & _ENCRYPTED:
            raise ValueError(_ENCRYPTED_MESSAGE)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return self._read_other(info)
        name_guess = len(info.orig_filename.encode()) + len(info.extra)
        want = _LOCAL_HEADER.size + name_guess + info.compress_size
        block = os.pread(self._fd, want, info.header_offset)
        if len(block) < _LOCAL_HEADER.size:
            raise ValueError("its local header lies past the end of the archive (truncated)")
        signature, flags, name_length, extra_length = _local_header(block)
        if signature != b"PK\x03\x04":
            raise ValueError("its local header is damaged (bad signature): the archive is corrupt")
        start = _LOCAL_HEADER.size + name_length + extra_length
        local_name = block[_LOCAL_HEADER.size : _LOCAL_HEADER.size + name_length]
        if local_name.decode("utf-8" if flags & _UTF8 else "cp437") != info.orig_filename:
            raise ValueError("its local header names another file: the archive is corrupt")
        data = block[start : start + info.compress_size]
        if len(data) < info.compress_size:  # the local extra field is longer than the central
            data += os.pread(
                self._fd,
                info.compress_size - len(data),
                info.header_offset + start + len(data),
            )
        if len(data) < info.compress_size:
            raise ValueError("its data ends past the end of the archive (truncated)")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            try:  # never more than the declared size (+1, to see that it is more)
                data = inflate.decompress(data, info.file_size + 1)
            except zlib.error as exc:
                raise ValueError(
                    f"its data does not inflate ({exc}): the archive is corrupt"
                ) from None
        if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
            raise ValueError(
                "its bytes do not match the archive's size and CRC-32: the archive is corrupt"
            )
        return data

    def _read_other(self, info: zipfile.ZipInfo) -> bytes:
        """bzip2, lzma (zipfile reads them, bounded by the declared size, checks the CRC)."""
        try:
            with self._zf.open(info) as member:
                return member.read()
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise ValueError(f"{exc}: the archive is corrupt or unsupported") from None


# The local file header (APPNOTE.TXT 4.3.7): signature, versions, flags, method, time, date,
# CRC-32, sizes, then the lengths of the name and the extra field.
_LOCAL_HEADER = struct.Struct("<4s2sH18xHH")
_ENCRYPTED = 0x1  # general purpose flag bit 0
_UTF8 = 0x800  # general purpose flag bit 11: the name is UTF-8
_ENCRYPTED_MESSAGE = (
    "is encrypted; encrypted archives are not read (zip the images without a password)"
)
# Methods the scan reads: store, deflate (and bzip2, lzma through zipfile).
_METHODS = {
    zipfile.ZIP_STORED: "store",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


def _local_header(block: bytes) -> tuple[bytes, int, int, int]:
    signature, _, flags, name_length, extra_length = _LOCAL_HEADER.unpack_from(block)
    return signature, flags, name_length, extra_length


@dataclass
class DirectoryWalk:
    """A directory's image files as names and stamps only (no object per file), what it
    skipped, and what it refuses: the stat walk a no-op check needs, and the listing's base."""

    names: list[str] = field(default_factory=list)  # posix, relative to the root, in walk order
    stamps: list[tuple[int, ...]] = field(default_factory=list)  # file_stamp of each name
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def walk_directory(root: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> DirectoryWalk:
    """Every regular file under `root` with its stamp; hidden and system entries skipped
    (folders not entered), symlinks anywhere refused.

    Each folder is opened (below the root, by name in its parent and never through a link),
    listed, and each entry `lstat`ed by name in it: the kernel resolves one name, not the
    whole path, per file."""
    if not root.is_dir():
        raise DatasetError([Problem(label, "missing", "directory not found")])
    walk = DirectoryWalk()
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # unreadable: nothing walked (as os.walk does)
        return walk
    try:
        _walk(fd, "", walk, label, limits)
    finally:
        os.close(fd)
    return walk


# A sub-folder is opened by name in its (open) parent, never through a symbolic link: one
# that replaced the folder since it was listed is not followed.
_SUBFOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_MODE = attrgetter("st_mode")
_SIZE = attrgetter("st_size")


def _walk(fd: int, prefix: str, walk: DirectoryWalk, label: str, limits: Limits) -> None:
    """One open folder: its entries, sorted by name, then each sub-folder's walk."""
    try:
        names = sorted(os.listdir(fd))
    except OSError:  # unreadable below the root: not walked (as os.walk does)
        return
    lstat = os.stat
    try:
        stats = [lstat(name, dir_fd=fd, follow_symlinks=False) for name in names]
    except OSError:  # an entry removed since the listing: entry by entry
        folders = _classify(fd, prefix, names, [_lstat(fd, n) for n in names], walk, label, limits)
    else:
        if _only_images(names, stats, limits):
            # A label's folder, the usual case: taken in bulk (entry by entry, the walk of
            # 10,000 images took ~2 ms more here, of ~18 ms).
            walk.names += map(prefix.__add__, names)
            walk.stamps += file_stamps(stats)
            folders = []
        else:
            folders = _classify(fd, prefix, names, stats, walk, label, limits)
    if len(walk.names) > limits.max_files:
        raise DatasetError(
            [
                Problem(
                    label,
                    "too-many-files",
                    f"has over {limits.max_files:,} files; at most "
                    f"{limits.max_files:,} are allowed",
                )
            ]
        )
    for name in folders:
        try:
            sub = os.open(name, _SUBFOLDER, dir_fd=fd)
        except OSError:  # unreadable, gone, or now a link: not walked
            continue
        try:
            _walk(sub, f"{prefix}{name}/", walk, label, limits)
        finally:
            os.close(sub)


def _lstat(fd: int, name: str) -> os.stat_result | None:
    """The entry's `lstat` in the open folder `fd`; None if it was removed meanwhile."""
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _only_images(names: list[str], stats: list[os.stat_result], limits: Limits) -> bool:
    """Whether every entry is a regular file within the size limit and neither hidden nor
    system litter: what `_classify` would take, all of it, as it is."""
    joined = f"/{'/'.join(names)}/"  # no name holds a "/": each is "/<name>/" in it
    lowered = joined.lower()
    return (
        all(map(stat.S_ISREG, map(_MODE, stats)))
        and max(map(_SIZE, stats), default=0) <= limits.max_file_bytes
        and "/." not in joined
        and not any(f"/{system}/" in lowered for system in _SYSTEM_FILES)
    )


def _classify(
    fd: int,
    prefix: str,
    names: list[str],
    stats: Sequence[os.stat_result | None],
    walk: DirectoryWalk,
    label: str,
    limits: Limits,
) -> list[str]:
    """The rules, entry by entry: the sub-folders' (skipped, refused links), then the files'
    (skipped, refused links, other kinds ignored, size limit); the sub-folders to walk."""
    folders: list[tuple[str, os.stat_result]] = []
    files: list[tuple[str, os.stat_result]] = []
    for name, st in zip(names, stats, strict=True):
        if st is None:
            continue  # removed since the listing
        # A link to a folder counts as a folder (as in os.walk): its note ends in "/".
        is_dir = stat.S_ISDIR(st.st_mode) or (
            stat.S_ISLNK(st.st_mode) and _links_to_folder(fd, name)
        )
        (folders if is_dir else files).append((name, st))
    walked = []
    for name, st in folders:
        rel = prefix + name
        if name.startswith(".") or name in _SYSTEM_DIRS:
            walk.skipped.append(rel + "/")  # not walked: a .git folder holds thousands of files
        elif stat.S_ISLNK(st.st_mode):
            walk.problems.append(_link_problem(label, rel))
        else:
            walked.append(name)
    for name, st in files:
        rel = prefix + name
        if name.startswith(".") or name.lower() in _SYSTEM_FILES:
            walk.skipped.append(rel)
        elif stat.S_ISLNK(st.st_mode):
            walk.problems.append(_link_problem(label, rel))
        elif not stat.S_ISREG(st.st_mode):
            continue
        elif st.st_size > limits.max_file_bytes:
            walk.problems.append(
                Problem(
                    f"{label}/{rel}",
                    "size",
                    f"is {st.st_size / 1024**2:.1f} MB; each image must be 30 MB or smaller",
                )
            )
        else:
            walk.names.append(rel)
            walk.stamps.append(file_stamp(st))
    return walked


def _links_to_folder(fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd).st_mode)
    except OSError:  # a broken link, a loop
        return False


def _link_problem(label: str, rel: str) -> Problem:
    return Problem(f"{label}/{rel}", "symlink", "is a symbolic link; links are refused")


def read_directory(
    root: Path, label: str, limits: Limits = DEFAULT_LIMITS, walk: DirectoryWalk | None = None
) -> Listing:
    """Lists the regular files under a directory; symlinks anywhere are refused. `walk`: the
    directory's `walk_directory`, when the caller has it already."""
    walk = walk or walk_directory(root, label, limits)
    if walk.problems:
        raise DatasetError(walk.problems)
    base = str(root)
    files = [
        SourceFile(name, stamp[0], stamp, partial(_read_file, os.path.join(base, name)))
        for name, stamp in zip(walk.names, walk.stamps, strict=True)
    ]
    return Listing(files, sorted(walk.skipped))


def _read_file(path: str) -> bytes:
    with open(path, "rb", buffering=0) as fh:  # unbuffered: one read of the whole file
        return fh.read()


def read_source(path: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> Listing:
    """A zip archive or a directory, by what is on disk."""
    if path.is_dir():
        return read_directory(path, label, limits)
    return read_zip(path, label, limits)


def source_stamp(path: Path) -> tuple[int, ...]:
    """Identity of a whole source for the cache: the zip's stat (directories: per file)."""
    return file_stamp(path.stat())


def iter_structured(
    files: list[SourceFile], label: str
) -> Iterator[tuple[SourceFile, str | Problem]]:
    """(file, its label folder or why it has none) for the structured layout
    `[root/]<label>/<image>`."""
    split = [_parts(f.name) for f in files]  # relative names: walked, or safe members
    strip = 0
    if split and all(len(p) >= 3 for p in split) and len({p[0] for p in split}) == 1:
        strip = 1  # a single top folder, as in Firebase's example ("my_dataset/label/x.jpg")
    for f, parts in zip(files, split, strict=True):
        rest = parts[strip:]
        if len(rest) == 2:
            yield f, rest[0]
        elif len(rest) < 2:
            yield (
                f,
                Problem(
                    f"{label}:{f.name}",
                    "layout",
                    "is not inside a label folder; the structured layout is <label>/<image>",
                ),
            )
        else:
            yield (
                f,
                Problem(
                    f"{label}:{f.name}",
                    "layout",
                    f"is nested {len(rest) - 1} folders deep; the structured layout is "
                    "<label>/<image> (one folder per label)",
                ),
            )
