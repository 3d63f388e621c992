"""Safe reading of dataset sources (zip archives and directories) without extracting to disk.

Hostile input is refused before any byte is inflated: path traversal, absolute paths and
symlinks; more entries than `Limits.max_files`; entries whose declared size exceeds the
per-image limit or whose compression ratio is implausible for images (zip bombs); a total
declared size over `Limits.max_total_bytes`. Reads are bounded by the declared sizes
(zipfile stops at `file_size` and checks the CRC), so a lying header cannot inflate more.
"""

import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from components.data.errors import DatasetError, Problem
from components.data.images import MAX_IMAGE_BYTES

# OS litter that is skipped, not reported.
_IGNORED_DIRS = {"__MACOSX"}
_IGNORED_FILES = {"Thumbs.db", "desktop.ini"}


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


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p in _IGNORED_DIRS for p in parts[:-1]) or (
        parts[-1] in _IGNORED_FILES or parts[-1].startswith(".")
    )


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name is unsafe, or None."""
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the archive with '..'"
    if "\x00" in name:
        return "contains a NUL character"
    return None


def read_zip(path: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> list[SourceFile]:
    """Lists the files of a zip safely; `label` is how errors name the archive."""
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DatasetError([Problem(label, "missing", "file not found")]) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(
            [Problem(label, "archive", f"is not a readable zip archive ({exc})")]
        ) from None
    problems: list[Problem] = []
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
    files: list[SourceFile] = []
    total = 0
    for info in infos:
        where = f"{label}:{info.filename}"
        reason = _unsafe_name(info.filename)
        if reason:
            problems.append(Problem(where, "unsafe-path", f"entry name {reason}; refused"))
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(Problem(where, "symlink", "is a symbolic link; links are refused"))
            continue
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename).parts
        if _ignored(parts):
            continue
        if info.file_size > limits.max_file_bytes:
            problems.append(
                Problem(
                    where,
                    "size",
                    f"is {info.file_size / 1024**2:.1f} MB; each image must be 30 MB or smaller",
                )
            )
            continue
        if info.file_size >= limits.ratio_min_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            problems.append(
                Problem(
                    where,
                    "zip-bomb",
                    f"inflates {info.compress_size:,} bytes to {info.file_size:,} "
                    f"(ratio over {limits.max_ratio:.0f}:1); refused as a zip bomb",
                )
            )
            continue
        total += info.file_size
        files.append(
            SourceFile(
                name=info.filename,
                size=info.file_size,
                stamp=(info.CRC, info.file_size),
                _reader=_zip_reader(zf, info),
            )
        )
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
    return files


def _zip_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        # ZipExtFile stops at the declared file_size and verifies the CRC at the end.
        with zf.open(info) as member:
            return member.read()

    return read


def read_directory(root: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> list[SourceFile]:
    """Lists the regular files under a directory; symlinks anywhere are refused."""
    if not root.is_dir():
        raise DatasetError([Problem(label, "missing", "directory not found")])
    problems: list[Problem] = []
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                rel = (base / d).relative_to(root).as_posix()
                problems.append(
                    Problem(f"{label}/{rel}", "symlink", "is a symbolic link; links are refused")
                )
                dirnames.remove(d)
        dirnames.sort()
        for name in sorted(filenames):
            full = base / name
            rel = full.relative_to(root).as_posix()
            if _ignored(PurePosixPath(rel).parts):
                continue
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                problems.append(
                    Problem(f"{label}/{rel}", "symlink", "is a symbolic link; links are refused")
                )
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_size > limits.max_file_bytes:
                problems.append(
                    Problem(
                        f"{label}/{rel}",
                        "size",
                        f"is {st.st_size / 1024**2:.1f} MB; each image must be 30 MB or smaller",
                    )
                )
                continue
            files.append(
                SourceFile(
                    name=rel,
                    size=st.st_size,
                    stamp=(st.st_size, st.st_mtime_ns, st.st_ino),
                    _reader=full.read_bytes,
                )
            )
            if len(files) > limits.max_files:
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
    if problems:
        raise DatasetError(problems)
    return files


def read_source(path: Path, label: str, limits: Limits = DEFAULT_LIMITS) -> list[SourceFile]:
    """A zip archive or a directory, by what is on disk."""
    if path.is_dir():
        return read_directory(path, label, limits)
    return read_zip(path, label, limits)


def source_stamp(path: Path) -> tuple[int, ...]:
    """Identity of a whole source for the cache: the zip's stat (directories: per file)."""
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def iter_structured(
    files: list[SourceFile], label: str
) -> Iterator[tuple[SourceFile, str | None, Problem | None]]:
    """(file, label folder, problem) for the structured layout `[root/]<label>/<image>`."""
    split = [PurePosixPath(f.name).parts for f in files]
    strip = 0
    if split and all(len(p) >= 3 for p in split) and len({p[0] for p in split}) == 1:
        strip = 1  # a single top folder, as in Firebase's example ("my_dataset/label/x.jpg")
    for f, parts in zip(files, split, strict=True):
        rest = parts[strip:]
        if len(rest) == 2:
            yield f, rest[0], None
        elif len(rest) < 2:
            yield (
                f,
                None,
                Problem(
                    f"{label}:{f.name}",
                    "layout",
                    "is not inside a label folder; the structured layout is <label>/<image>",
                ),
            )
        else:
            yield (
                f,
                None,
                Problem(
                    f"{label}:{f.name}",
                    "layout",
                    f"is nested {len(rest) - 1} folders deep; the structured layout is "
                    "<label>/<image> (one folder per label)",
                ),
            )
