"""What a changed dataset changes in the images: added, removed and relabelled, per label and
per split, from the manifests of both revisions (the Dataset provider's scan, plan.py).

Images are compared by content (sha256), as the fingerprint is: a renamed file is neither
added nor removed; an image whose labels changed is relabelled; one that only changed split
(the split is assigned per label from content hashes, so adding images to a label moves a few
of its images) is counted as moved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from components.data.manifest import SPLITS, Manifest


@dataclass(frozen=True)
class LabelChange:
    """One label's images: added, removed, relabelled to it (`relabelled_in`) or away from it,
    and its count per split before → after."""

    label: str
    added: int
    removed: int
    relabelled_in: int
    relabelled_out: int
    splits: Mapping[str, tuple[int, int]]  # split → (before, after)

    @property
    def net(self) -> int:
        return self.added - self.removed + self.relabelled_in - self.relabelled_out


@dataclass(frozen=True)
class DataChange:
    images: tuple[int, int]  # before, after
    added: int
    removed: int
    relabelled: int
    moved: int  # same content and labels, another split
    labels: tuple[LabelChange, ...]  # the labels whose images changed, by name

    def summary(self) -> str:
        """`+20 seven, −3 one, 2 relabelled` — what a reviewer reads first."""
        parts = [
            f"{'+' if c.net > 0 else '−'}{abs(c.net)} `{c.label}`" for c in self.labels if c.net
        ]
        if self.relabelled:
            parts.append(f"{self.relabelled} relabelled")
        if self.moved:
            parts.append(f"{self.moved} moved between splits")
        return ", ".join(parts) or "no image changed"


def _per_split(manifest: Manifest, label: str) -> Mapping[str, int]:
    return manifest.label_counts.get(label, {})


def data_change(old: Manifest, new: Manifest) -> DataChange:
    """The images `new` adds, removes and relabels compared with `old`."""
    before = {e.sha256: e for e in old.entries}
    after = {e.sha256: e for e in new.entries}
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    relabelled = moved = 0
    for sha in after.keys() - before.keys():
        added.update(after[sha].labels)
    for sha in before.keys() - after.keys():
        removed.update(before[sha].labels)
    for sha in after.keys() & before.keys():
        a, b = set(before[sha].labels), set(after[sha].labels)
        if a != b:
            relabelled += 1
            gained.update(b - a)
            lost.update(a - b)
        elif before[sha].split != after[sha].split:
            moved += 1
    labels = sorted(set(old.label_counts) | set(new.label_counts))
    changes = []
    for label in labels:
        splits = {
            split: (_per_split(old, label).get(split, 0), _per_split(new, label).get(split, 0))
            for split in SPLITS
        }
        change = LabelChange(
            label, added[label], removed[label], gained[label], lost[label], splits
        )
        if any(a != b for a, b in splits.values()) or change.added or change.removed:
            changes.append(change)
    return DataChange(
        images=(len(old.entries), len(new.entries)),
        added=sum(1 for sha in after if sha not in before),
        removed=sum(1 for sha in before if sha not in after),
        relabelled=relabelled,
        moved=moved,
        labels=tuple(changes),
    )
