"""What the studio shows of a dataset, and the one thing it writes: a labels file.

A dataset is read as its provider's check reads it (components/data: the same listing, image
checks, rules and split assignment, the same stat cache), so the studio's counts, refusals
and splits are those `pulumi up` would import. The labels file of an `images` source is the
only file written, and only with rows sorted by image path: each save adds lines where they
sort, so its pull request shows the new labels and nothing else.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from components.data.archive import source_stamp
from components.data.cache import ScanCache
from components.data.errors import DatasetError, Problem
from components.data.labels import label_problem, read_labels_file
from components.data.manifest import (
    SPLITS,
    Item,
    SplitSpec,
    build_manifest,
    local_items,
    scan,
    source_label_order,
)
from components.spec import Dataset

UNSPLIT = "—"  # the split of an image when the dataset fails its rules (none is assigned)


class StudioError(ValueError):
    """A request the studio refuses; the message names the file or field and what is allowed."""


@dataclass(frozen=True)
class Image:
    """One file of a dataset's source."""

    name: str  # its name inside the source (the labels file's path column)
    labels: tuple[str, ...]
    split: str  # TRAIN | VALIDATION | TEST, or UNSPLIT
    sha256: str | None  # None: the checks refused it


@dataclass(frozen=True)
class DatasetView:
    """A dataset as the studio shows it (its source read and checked, nothing uploaded)."""

    name: str
    classification: str
    source_kind: str
    source: str  # the source path, relative to the project
    labels_file: Path | None
    labels: tuple[str, ...]  # in the dataset's order
    images: tuple[Image, ...]  # in source order
    refused: tuple[Problem, ...]  # what the checks refuse, and why
    warnings: tuple[str, ...]
    fingerprint: str | None  # None: the dataset fails its rules
    items: Mapping[str, Item] = field(repr=False, compare=False)

    def counts(self) -> dict[str, dict[str, int]]:
        """label → split → images (each content once, as the import counts them)."""
        counts = {label: dict.fromkeys((*SPLITS, UNSPLIT), 0) for label in self.labels}
        seen: set[str] = set()
        for image in self.images:
            if image.sha256 is None or image.sha256 in seen:
                continue
            seen.add(image.sha256)
            for label in image.labels:
                counts.setdefault(label, dict.fromkeys((*SPLITS, UNSPLIT), 0))[image.split] += 1
        return counts

    def duplicates(self) -> list[dict[str, object]]:
        """Contents held by several files with different labels: each file and its labels."""
        by_sha: dict[str, list[Image]] = {}
        for image in self.images:
            if image.sha256 is not None:
                by_sha.setdefault(image.sha256, []).append(image)
        return [
            {
                "sha256": sha,
                "files": [{"name": i.name, "labels": list(i.labels)} for i in images],
            }
            for sha, images in sorted(by_sha.items(), key=lambda kv: kv[1][0].name)
            if len({i.labels for i in images}) > 1
        ]

    def unlabeled(self) -> list[str]:
        """Images of an `images` source that the labels file does not label yet."""
        return [i.name for i in self.images if not i.labels and i.sha256 is not None]

    def read(self, name: str) -> bytes:
        item = self.items.get(name)
        if item is None:
            raise StudioError(f"dataset '{self.name}' has no image '{name}'")
        return item.read()

    def to_json(self, per_label: int = 24) -> dict[str, object]:
        """The Datasets page: counts per split, a contact sheet of up to `per_label` images
        per label, refusals, duplicates across labels."""
        sheets: dict[str, list[str]] = {label: [] for label in self.labels}
        for image in self.images:
            for label in image.labels:
                sheet = sheets.setdefault(label, [])
                if len(sheet) < per_label and image.sha256 is not None:
                    sheet.append(image.name)
        return {
            "name": self.name,
            "classification": self.classification,
            "sourceKind": self.source_kind,
            "source": self.source,
            "labelsFile": None if self.labels_file is None else str(self.labels_file),
            "labels": list(self.labels),
            "splits": [*SPLITS, UNSPLIT],
            "counts": self.counts(),
            "images": len(self.images),
            "unlabeled": len(self.unlabeled()),
            "fingerprint": self.fingerprint,
            "contactSheet": sheets,
            "refused": [{"where": p.where, "rule": p.rule, "why": p.message} for p in self.refused],
            "duplicates": self.duplicates(),
            "warnings": list(self.warnings),
        }


def _relative(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), root.resolve())
    except ValueError:  # another drive
        return str(path)


def read_dataset(spec: Dataset, root: Path) -> DatasetView:
    """Reads and checks the dataset's local source (a gs:// CSV index is not read here)."""
    src = spec.source
    if src.path is None:
        raise StudioError(
            f"dataset '{spec.name}': its source is a Cloud Storage CSV index ({src.uri}); the "
            "studio reads local sources (zip, directory, images)"
        )
    label = _relative(src.path, root)
    kind = src.kind.value
    split = SplitSpec(spec.split.train, spec.split.validation, spec.split.test, spec.split.seed)
    order = source_label_order(kind, src.path, label, src.labels)
    try:
        items, notes = local_items(kind, src.path, label, src.labels)
    except DatasetError as err:
        return DatasetView(
            spec.name, spec.classification.value, kind, label, src.labels, order, (),
            err.problems, (), None, {},
        )  # fmt: skip
    cache = ScanCache(src.path, None if src.path.is_dir() else source_stamp(src.path))
    try:
        scanned, problems = scan(items, cache)
    finally:
        cache.save()
    fingerprint, splits, warnings, refused = None, {}, list(notes), list(problems)
    try:
        manifest = build_manifest(
            scanned, problems, classification=spec.classification.value, split=split, label=label
        )
    except DatasetError as err:
        refused = list(err.problems)
    else:
        fingerprint, warnings = manifest.fingerprint, list(manifest.warnings)
        splits = {e.sha256: e.split for e in manifest.entries}
    checked = {item.name: sha for item, sha, _, _ in scanned}
    images = tuple(
        Image(item.name, item.labels, splits.get(checked.get(item.name, ""), UNSPLIT),
              checked.get(item.name))
        for item in items
    )  # fmt: skip
    labels = (*order, *sorted({lab for i in images for lab in i.labels} - set(order)))
    return DatasetView(
        spec.name,
        spec.classification.value,
        kind,
        label,
        src.labels,
        labels,
        images,
        tuple(refused),
        tuple(warnings),
        fingerprint,
        {item.name: item for item in items},
    )


# -- the labels file ----------------------------------------------------------------------------


def _row(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def add_labels(view: DatasetView, new: Mapping[str, Sequence[str]]) -> list[str]:
    """Adds `image → labels` rows to the dataset's labels file, every row sorted by image path
    (existing rows kept byte for byte); returns the lines added. Refuses, writing nothing, an
    image that is not in the source or is labeled already, a label the service refuses, and
    more than one label per image of a multiclass dataset."""
    if view.source_kind != "images" or view.labels_file is None:
        raise StudioError(
            f"dataset '{view.name}': only an `images` source with a `labels` file is labeled "
            f"here (its source is `{view.source_kind}`)"
        )
    path = view.labels_file
    known = {i.name for i in view.images}
    text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
    existing = read_labels_file(path, str(path)) if text.strip() else {}
    problems = []
    rows: list[tuple[str, str]] = []
    for image, labels in sorted(new.items()):
        labels = list(dict.fromkeys(labels))
        if image not in known:
            problems.append(f"'{image}' is not an image of {view.source}")
        elif image in existing:
            problems.append(f"'{image}' is labeled already in {path.name}")
        elif not labels:
            problems.append(f"'{image}': no label given")
        elif view.classification == "multiclass" and len(labels) > 1:
            problems.append(
                f"'{image}': {len(labels)} labels ({', '.join(labels)}); a multiclass dataset "
                "allows one label per image"
            )
        for label in labels:
            reason = label_problem(label)
            if reason:
                problems.append(f"'{image}': {reason}")
        rows.append((image, _row([image, *labels])))
    if problems:
        raise StudioError(f"{path}: nothing was written: " + "; ".join(problems))
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    header: list[str] = []
    if lines and next(csv.reader([lines[0]]), [""])[0].strip().lower() in {"path", "image", "file"}:
        header, lines = lines[:1], lines[1:]
    keyed = [(next(csv.reader([line]), [""])[0].strip(), line) for line in lines if line.strip()]
    merged = sorted([*keyed, *rows], key=lambda row: row[0])
    path.write_text("".join(header + [line for _, line in merged]), encoding="utf-8")
    return [line for _, line in rows]
