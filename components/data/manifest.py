"""The content-addressed manifest of a dataset: what is imported, with which labels and split.

A dataset's fingerprint is the sha256 of its sorted manifest lines (content hash, labels,
split) plus the classification type: renaming a file changes nothing, editing a pixel does.
The items handed back for the upload verify, on every read, that the bytes are still those
hashed, so an object is never stored under the address of other content.

A no-op check reads no image and builds no manifest: `summarize_local` walks the source's
stats (a zip: its own stat) into the scan's key, and answers the summary that the stat cache
holds under that key (cache.py); only a changed key scans. Without a stat cache (a new clone,
a CI runner), the deployed dataset's fingerprint vouches for the content it was made of: the
images are read and hashed, and decoded only if they make another manifest (scan_items).
"""

import gc
import hashlib
import marshal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from components.data import check_pool
from components.data.archive import (
    DEFAULT_LIMITS,
    DirectoryWalk,
    Limits,
    Listing,
    iter_structured,
    read_directory,
    read_source,
    read_zip,
    source_stamp,
    walk_directory,
)
from components.data.cache import CACHE_VERSION, ScanCache
from components.data.errors import DatasetError, Problem
from components.data.images import (
    EXTENSIONS,
    MAX_IMAGE_BYTES,
    check_image,
    format_by_signature,
    suffix_problem,
)
from components.data.labels import label_problem, read_labels_file
from components.process_pool import map_ahead

SPLITS = ("TRAIN", "VALIDATION", "TEST")
MIN_IMAGES_PER_LABEL = 10
RECOMMENDED_IMAGES_PER_LABEL = 100
MIN_LABELS = 2

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SplitSpec:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class Item:
    """One image to import: where it is, how to read it, what it is labeled."""

    where: str  # for messages, e.g. "specs/data/digits.zip:digits/one/0001.png"
    name: str  # name inside the source (cache key, extension check)
    stamp: tuple[int, ...]
    read: Callable[[], bytes] = field(repr=False, compare=False)
    labels: tuple[str, ...] = ()
    split: str | None = None  # fixed by a CSV index's ML_USE column, else assigned


@dataclass(frozen=True)
class Entry:
    sha256: str
    format: str
    size: int
    labels: tuple[str, ...]
    split: str
    source: str  # first source name with this content

    @property
    def object_name(self) -> str:
        """Where the image lives in the bucket: content-addressed, so uploaded once."""
        return f"images/{self.sha256}.{EXTENSIONS[self.format][0]}"


@dataclass(frozen=True)
class Manifest:
    classification: str  # "multiclass" | "multilabel"
    entries: tuple[Entry, ...]  # sorted by sha256
    fingerprint: str  # "sha256:<hex>"
    label_counts: Mapping[str, Mapping[str, int]]  # label → split → images
    warnings: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.label_counts)

    @property
    def summary(self) -> "Summary":
        return Summary(self.fingerprint, len(self.entries), self.label_counts, self.warnings)


@dataclass(frozen=True)
class Summary:
    """What a check reports of a manifest: its fingerprint and figures, not its entries."""

    fingerprint: str  # "sha256:<hex>"
    image_count: int
    label_counts: Mapping[str, Mapping[str, int]]  # label → split → images
    warnings: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.label_counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "imageCount": self.image_count,
            "labelCounts": {k: dict(v) for k, v in self.label_counts.items()},
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Summary":
        return cls(
            str(data["fingerprint"]),
            int(data["imageCount"]),
            MappingProxyType(
                {str(k): MappingProxyType(dict(v)) for k, v in data["labelCounts"].items()}
            ),
            tuple(str(w) for w in data["warnings"]),
        )


def _scan_one(item: Item) -> tuple[str, str, int] | Problem:
    """Reads, checks and hashes one item."""
    try:
        data = item.read()
    except (OSError, ValueError) as exc:  # zipfile raises BadZipFile (a ValueError) on bad CRC
        return Problem(item.where, "unreadable", f"cannot be read ({exc})")
    try:
        checked = check_image(data, item.name)
    except ValueError as exc:
        return Problem(item.where, "image", str(exc))
    return (hashlib.sha256(data).hexdigest(), checked.format, len(data))


def scan(
    items: Sequence[Item], cache: ScanCache | None = None, progress: Progress | None = None
) -> tuple[list[tuple[Item, str, str, int]], list[Problem]]:
    """Reads, checks and hashes every item (in parallel); cached items are not read."""
    ok: list[tuple[Item, str, str, int]] = []
    problems: list[Problem] = []
    # Cache hits are answered here, only misses go to the pools: a future per hit made
    # the warm no-op scan of 10,000 images ~0.2 s slower (bench/bench_dataset_import.py).
    hits = [cache.get(i.name, i.stamp) if cache else None for i in items]
    misses = [i for i, hit in zip(items, hits, strict=True) if hit is None]
    checked = _check(misses)
    for done, (item, hit) in enumerate(zip(items, hits, strict=True), start=1):
        result = tuple(hit) if hit is not None else next(checked)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            ok.append((item, *result))
            if hit is None and cache:
                cache.put(item.name, item.stamp, list(result))
        if progress and (done % 500 == 0 or done == len(items)):
            progress(done, len(items))
    return ok, problems


def _check(items: Sequence[Item]) -> Iterator[tuple[str, str, int] | Problem]:
    """`_scan_one` of each item, in order: in worker processes (check_pool.py) when there
    are many, else in threads (Pillow releases the GIL while it decodes large images)."""
    workers = check_pool.cores()
    if len(items) < check_pool.MIN_IMAGES or workers < 2:
        with ThreadPoolExecutor(max_workers=min(8, 2 * workers)) as pool:
            yield from pool.map(_scan_one, items)
        return
    reads = ((item.name, data) for item, data in zip(items, _read_ahead(items), strict=True))
    for item, result in zip(items, check_pool.check_in_processes(reads, workers), strict=True):
        sha, kind, size = result
        if not sha:
            yield Problem(item.where, kind, str(size))
        else:
            yield sha, kind, int(size)


def _read_ahead(items: Iterable[Item], threads: int = 8) -> Iterator[bytes | str]:
    """Each item's bytes (or why they cannot be read), in order, read by `threads` threads a
    bounded number ahead of the consumer (a CSV index's images are network reads)."""

    def read(item: Item) -> bytes | str:
        try:
            return item.read()
        except (OSError, ValueError) as exc:  # zipfile raises BadZipFile (a ValueError)
            return f"cannot be read ({exc})"

    return map_ahead(read, items, threads)


def _rank(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()


def assign_splits(groups: Mapping[tuple[str, ...], list[str]], split: SplitSpec) -> dict[str, str]:
    """Deterministic split stratified by label set: each group ordered by a seeded content hash.

    Every group with at least 3 images gets at least one TEST and (if the fraction is not 0)
    one VALIDATION image, so every label is evaluated.
    """
    out: dict[str, str] = {}
    for shas in groups.values():
        ordered = sorted(shas, key=lambda s: _rank(split.seed, s))
        n = len(ordered)
        n_test = round(n * split.test)
        n_val = round(n * split.validation)
        if n >= 3:
            n_test = max(n_test, 1 if split.test > 0 else 0)
            n_val = max(n_val, 1 if split.validation > 0 else 0)
        for i, sha in enumerate(ordered):
            out[sha] = "TEST" if i < n_test else "VALIDATION" if i < n_test + n_val else "TRAIN"
    return out


def fingerprint(classification: str, entries: Sequence[Entry]) -> str:
    h = hashlib.sha256(f"edge-labeler/dataset/v1 {classification}\n".encode())
    for e in sorted(entries, key=lambda e: e.sha256):
        h.update(f"{e.sha256}\t{','.join(sorted(e.labels))}\t{e.split}\n".encode())
    return f"sha256:{h.hexdigest()}"


@dataclass
class _Content:
    """One distinct image content while a manifest is built: its first file, and the labels
    of every file that holds it."""

    format: str
    size: int
    labels: tuple[str, ...]
    split: str | None
    source: str
    where: str


def build_manifest(
    scanned: Sequence[tuple[Item, str, str, int]],
    problems: Sequence[Problem],
    *,
    classification: str,
    split: SplitSpec = SplitSpec(),
    label: str,
    notes: Sequence[str] = (),
) -> Manifest:
    """Applies every rule to a `scan`'s results; raises DatasetError listing every problem.

    `notes`: warnings about the source itself (entries it skipped), listed first.
    """
    problems = list(problems)
    warnings: list[str] = list(notes)
    by_sha, duplicates = _contents(scanned, classification, problems)
    if duplicates:
        warnings.append(
            f"{label}: {duplicates} file(s) repeat the content of another file; "
            "each content is imported once"
        )
    unlabeled = [sha for sha, c in by_sha.items() if not c.labels]
    if unlabeled:
        warnings.append(f"{label}: {len(unlabeled)} image(s) have no label and are not imported")
        for sha in unlabeled:
            del by_sha[sha]

    counts: dict[str, int] = {}
    for c in by_sha.values():
        for lab in c.labels:
            counts[lab] = counts.get(lab, 0) + 1
    if not problems:
        _count_rules(counts, label, problems, warnings)
    if problems:
        raise DatasetError(problems)

    entries = _entries(by_sha, split)
    per_label: dict[str, dict[str, int]] = {lab: dict.fromkeys(SPLITS, 0) for lab in sorted(counts)}
    for e in entries:
        for lab in e.labels:
            per_label[lab][e.split] += 1
    return Manifest(
        classification=classification,
        entries=entries,
        fingerprint=fingerprint(classification, entries),
        label_counts=MappingProxyType({k: MappingProxyType(v) for k, v in per_label.items()}),
        warnings=tuple(warnings),
    )


def _entries(by_sha: Mapping[str, _Content], split: SplitSpec) -> tuple[Entry, ...]:
    """The manifest's entries by sha256, each in its split (fixed, or assigned here)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    labels = {
        sha: c.labels if len(c.labels) < 2 else tuple(sorted(c.labels)) for sha, c in by_sha.items()
    }
    for sha, c in by_sha.items():
        if c.split is None:
            groups.setdefault(labels[sha], []).append(sha)
    assigned = assign_splits(groups, split)
    return tuple(
        Entry(
            sha256=sha,
            format=c.format,
            size=c.size,
            labels=labels[sha],
            split=c.split or assigned[sha],
            source=c.source,
        )
        for sha, c in sorted(by_sha.items())
    )


def _contents(
    scanned: Sequence[tuple[Item, str, str, int]], classification: str, problems: list[Problem]
) -> tuple[dict[str, _Content], int]:
    """The distinct contents by sha256 and how many files repeated one; appends the problems
    of labels (pattern; more than one per image of a multiclass dataset) to `problems`."""
    by_sha: dict[str, _Content] = {}
    conflicted: set[str] = set()
    duplicates = 0
    verdicts: dict[str, str | None] = {}  # a dataset has few labels and many images
    for item, sha, fmt, size in scanned:
        for lab in item.labels:
            if lab not in verdicts:
                verdicts[lab] = label_problem(lab)
            if reason := verdicts[lab]:
                problems.append(Problem(item.where, "label-pattern", reason))
        seen = by_sha.get(sha)
        if seen is None:
            labels = tuple(dict.fromkeys(item.labels))
            by_sha[sha] = _Content(fmt, size, labels, item.split, item.name, item.where)
            continue
        duplicates += 1
        merged = seen.labels + tuple(lab for lab in item.labels if lab not in seen.labels)
        if classification == "multiclass" and len(merged) > 1:
            conflicted.add(sha)
            problems.append(
                Problem(
                    item.where,
                    "duplicate-conflict",
                    f"has the same content as {seen.where} but label(s) "
                    f"{', '.join(item.labels)} vs {', '.join(seen.labels)}; a multiclass "
                    "dataset allows one label per image",
                )
            )
        seen.labels = merged
    if classification == "multiclass":
        for sha, c in by_sha.items():
            if len(c.labels) > 1 and sha not in conflicted:
                problems.append(
                    Problem(
                        c.where,
                        "multiclass",
                        f"has {len(c.labels)} labels ({', '.join(c.labels)}); a multiclass "
                        "dataset allows one label per image (use classification: multilabel)",
                    )
                )
    return by_sha, duplicates


def _count_rules(
    counts: Mapping[str, int], label: str, problems: list[Problem], warnings: list[str]
) -> None:
    """The rules on labels and images per label (appended to `problems` and `warnings`)."""
    if len(counts) < MIN_LABELS:
        problems.append(
            Problem(
                label,
                "label-count",
                f"has {len(counts)} label(s) ({', '.join(sorted(counts)) or 'none'}); "
                f"a classification dataset needs at least {MIN_LABELS}",
            )
        )
    for lab, n in sorted(counts.items()):
        if n < MIN_IMAGES_PER_LABEL:
            problems.append(
                Problem(
                    label,
                    "images-per-label",
                    f"label '{lab}' has {n} image(s); each label needs at least "
                    f"{MIN_IMAGES_PER_LABEL} (preferably "
                    f"{RECOMMENDED_IMAGES_PER_LABEL} or more)",
                )
            )
        elif n < RECOMMENDED_IMAGES_PER_LABEL:
            warnings.append(
                f"{label}: label '{lab}' has {n} images; "
                f"{RECOMMENDED_IMAGES_PER_LABEL} or more per label is recommended"
            )


def local_items(
    kind: str,
    path: Path,
    label: str,
    labels_file: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    listing: Listing | None = None,
) -> tuple[list[Item], list[str]]:
    """Items of a local source: `zip` / `directory` (structured) or `images` (+ labels file),
    and notes about the source (the hidden or system entries it skipped). `listing`: the
    source's, when the caller has read it already."""
    listing = listing or read_source(path, label, limits)
    files = listing.files
    notes = [note] if (note := listing.note(label)) else []
    sep = ":" if path.is_file() else "/"
    if kind in ("zip", "directory"):
        items, problems = [], []
        for f, folder in iter_structured(files, label):
            if isinstance(folder, Problem):
                problems.append(folder)
            else:
                items.append(Item(f"{label}{sep}{f.name}", f.name, f.stamp, f.read, (folder,)))
        if problems:
            raise DatasetError(problems)
        return items, notes
    if kind == "images":
        mapping = read_labels_file(labels_file, str(labels_file)) if labels_file is not None else {}
        names = {f.name for f in files}
        unknown = [p for p in mapping if p not in names]
        if unknown:
            raise DatasetError(
                Problem(
                    f"{labels_file}",
                    "labels-file",
                    f"names '{p}', which is not in {label}",
                )
                for p in unknown
            )
        items = [
            Item(f"{label}{sep}{f.name}", f.name, f.stamp, f.read, mapping.get(f.name, ()))
            for f in files
        ]
        return items, notes
    raise ValueError(f"unknown local source kind {kind!r}")


def source_label_order(
    kind: str, path: Path, label: str, labels_file: Path | None = None
) -> tuple[str, ...]:
    """The labels in the order the dataset's source gives them: label folders as they first
    appear in the zip or directory, a labels file's labels as they first appear in it.

    Reports and the studio list labels in this order (`zero` … `nine`, not alphabetically);
    it reads names only, no image. Sources that cannot be read give no order (an empty tuple).
    """
    try:
        if kind == "images":
            if labels_file is None:
                return ()
            mapping = read_labels_file(labels_file, str(labels_file))
            return tuple(dict.fromkeys(lab for labels in mapping.values() for lab in labels))
        files = read_source(path, label).files
    except (DatasetError, OSError, ValueError):
        return ()
    folders = (folder for _, folder in iter_structured(files, label) if isinstance(folder, str))
    return tuple(dict.fromkeys(folders))


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pauses Python's cycle collector while a scan allocates: its tens of thousands of
    names, stamps and entries all live until the scan ends, so a collection frees nothing,
    and each full one walks every object of the process (a cold check of 10,000 images
    spent about 0.2 s of 0.45 s in them here: bench/bench_dataset_import.py)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def scan_local(
    kind: str,
    path: Path,
    *,
    classification: str,
    split: SplitSpec = SplitSpec(),
    label: str | None = None,
    labels_file: Path | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    trusted: str | None = None,
) -> tuple[Manifest, Mapping[str, Item]]:
    """The manifest of a local source (unchanged files come from the stat cache), and the
    source's items by name, to read the images an upload needs. `trusted`: see scan_items."""
    label = label or str(path)
    source = _LocalSource(kind, path, label, labels_file, classification, split)
    with _cycle_collector_paused():
        return source.scan(source.walk(), progress, use_cache, trusted)


def summarize_local(
    kind: str,
    path: Path,
    *,
    classification: str,
    split: SplitSpec = SplitSpec(),
    label: str | None = None,
    labels_file: Path | None = None,
    progress: Progress | None = None,
    trusted: str | None = None,
) -> Summary:
    """The summary of `scan_local`'s manifest: the stat cache's, when the source's names and
    stamps (a zip: its own stamp), the options and the rules are those it was saved with.
    `trusted`: see scan_items."""
    label = label or str(path)
    source = _LocalSource(kind, path, label, labels_file, classification, split)
    with _cycle_collector_paused():
        walk = source.walk()
        key = source.key(walk)
        if key is not None:
            saved = source.cache().summary(key)
            if saved is not None:
                try:
                    return Summary.from_json(saved)
                except (KeyError, TypeError, ValueError, AttributeError):
                    pass  # not what save_summary writes: scan again
        manifest, _ = source.scan(walk, progress, use_cache=True, trusted=trusted)
        return manifest.summary


@dataclass(frozen=True)
class _LocalSource:
    """A local source and the options of its scan (what its key is made of)."""

    kind: str
    path: Path
    label: str
    labels_file: Path | None
    classification: str
    split: SplitSpec

    def walk(self) -> DirectoryWalk | None:
        """A directory's stat walk (None for a zip: its own stamp stands for its members)."""
        return walk_directory(self.path, self.label) if self.path.is_dir() else None

    def cache(self) -> ScanCache:
        return ScanCache(self.path, None if self.path.is_dir() else source_stamp(self.path))

    def key(self, walk: DirectoryWalk | None) -> str | None:
        """What identifies this scan's result; None when it cannot be known without reading
        the source (a problem the scan reports, a missing file)."""
        try:
            labels = None if self.labels_file is None else self.labels_file.read_bytes()
            if walk is None:
                identity: Any = source_stamp(self.path)
            elif walk.problems:
                return None
            else:
                identity = (walk.names, walk.stamps, walk.skipped)
        except OSError:
            return None
        split = (self.split.train, self.split.validation, self.split.test, self.split.seed)
        scan = (_rules_digest(), self.kind, self.label, labels, self.classification, split)
        # Version 2: no back-references, so equal values always give equal bytes.
        return hashlib.sha256(marshal.dumps((scan, identity), 2)).hexdigest()

    def scan(
        self,
        walk: DirectoryWalk | None,
        progress: Progress | None,
        use_cache: bool,
        trusted: str | None = None,
    ) -> tuple[Manifest, Mapping[str, Item]]:
        if walk is None:
            listing = read_zip(self.path, self.label)
        else:
            listing = read_directory(self.path, self.label, walk=walk)
        cache = self.cache() if use_cache else None
        items, notes = local_items(
            self.kind, self.path, self.label, self.labels_file, listing=listing
        )
        manifest, verified = scan_items(
            items,
            cache,
            classification=self.classification,
            split=self.split,
            label=self.label,
            progress=progress,
            notes=notes,
            trusted=trusted,
        )
        key = self.key(walk) if cache else None
        if cache and key is not None:
            cache.save_summary(key, manifest.summary.to_json())
        return manifest, verified


@cache
def _rules_digest() -> str:
    """The data layer's code: a cached summary holds only while the rules that made it do."""
    h = hashlib.sha256(f"{CACHE_VERSION}".encode())
    for module in ("archive", "cache", "errors", "images", "labels", "manifest"):
        h.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return h.hexdigest()


def scan_items(
    items: Sequence[Item],
    cache: ScanCache | None,
    *,
    classification: str,
    split: SplitSpec,
    label: str,
    progress: Progress | None = None,
    notes: Sequence[str] = (),
    trusted: str | None = None,
) -> tuple[Manifest, Mapping[str, Item]]:
    """Checks, hashes and applies every rule (the stat cache is saved afterwards, also when
    the data fails its rules: what was read stays cached); returns the manifest and the
    items by name, whose `read` verifies the bytes against the sha256 the scan found.

    `trusted`: the fingerprint of content that passed this check before (the deployed
    dataset's). Images the stat cache lacks are then first only read and hashed; if the
    manifest they make has that fingerprint, each is byte for byte an image checked before
    and none is decoded. Otherwise every one the cache lacks is checked in full.
    """
    build = partial(
        build_manifest, classification=classification, split=split, label=label, notes=notes
    )
    try:
        vouched = _vouched_scan(items, cache, trusted, build, progress) if trusted else None
        if vouched is not None:
            scanned, manifest = vouched
        else:
            scanned, problems = scan(items, cache, progress)
            manifest = build(scanned, problems)
    finally:
        if cache:
            cache.save()
    return manifest, _VerifiedItems(scanned, cache)


class _VerifiedItems(Mapping[str, Item]):
    """The scanned items by name, each made on first use with a `read` that verifies the
    bytes against the sha256 the scan found (a check's summary needs none of them)."""

    def __init__(
        self, scanned: Sequence[tuple[Item, str, str, int]], cache: ScanCache | None
    ) -> None:
        self._scanned = {item.name: (item, sha) for item, sha, _, _ in scanned}
        self._cache = cache

    def __getitem__(self, name: str) -> Item:
        item, sha = self._scanned[name]
        return replace(item, read=partial(read_verified, item, sha, self._cache))

    def __iter__(self) -> Iterator[str]:
        return iter(self._scanned)

    def __len__(self) -> int:
        return len(self._scanned)


def _vouched_scan(
    items: Sequence[Item],
    cache: ScanCache | None,
    trusted: str,
    build: Callable[[list[tuple[Item, str, str, int]], list[Problem]], Manifest],
    progress: Progress | None,
) -> tuple[list[tuple[Item, str, str, int]], Manifest] | None:
    """The scan, without decoding, if the items make the manifest `trusted` names; else None
    (an unreadable item, an unknown signature, a wrong extension, a rule that fails, or other
    content: the full check then finds and words what is wrong)."""
    scanned: list[tuple[Item, str, str, int]] = []
    read: list[tuple[Item, list[Any]]] = []
    for done, item in enumerate(items, start=1):
        hit = cache.get(item.name, item.stamp) if cache else None
        if hit is None:
            try:
                data = item.read()
            except (OSError, ValueError):
                return None
            fmt = format_by_signature(data)
            if fmt is None or len(data) > MAX_IMAGE_BYTES or suffix_problem(fmt, item.name):
                return None
            hit = [hashlib.sha256(data).hexdigest(), fmt, len(data)]
            read.append((item, hit))
        scanned.append((item, hit[0], hit[1], hit[2]))
        if progress and (done % 500 == 0 or done == len(items)):
            progress(done, len(items))
    try:
        manifest = build(scanned, [])
    except DatasetError:
        return None
    if manifest.fingerprint != trusted:
        return None
    if cache:
        for item, hit in read:
            cache.put(item.name, item.stamp, hit)
    return scanned, manifest


def read_verified(item: Item, sha256: str, cache: ScanCache | None = None) -> bytes:
    """The item's bytes if they still hash to `sha256`; DatasetError naming the file if not.

    An upload reads the source again, after the check: a file edited in between must not
    be stored under the address of the content that was checked.
    """
    data = item.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual == sha256:
        return data
    if cache:
        cache.forget(item.name)  # so that the next check reads it, not the stale entry
    raise DatasetError(
        [
            Problem(
                item.where,
                "changed",
                f"changed since it was checked (its sha256 is now {actual[:12]}…, the check "
                f"saw {sha256[:12]}…); nothing was stored for it: run the deployment again "
                "to check the new content",
            )
        ]
    )
