"""Label rules of the service and the reviewable labels file for unlabeled images."""

import csv
import io
import re
from pathlib import Path

from components.data.errors import DatasetError, Problem

# AutoML Vision / Vertex: labels are 1–32 ASCII letters, digits and underscores.
LABEL_PATTERN = re.compile(r"[A-Za-z0-9_]{1,32}")
LABEL_RULE = "labels are 1–32 characters of A–Z, a–z, 0–9 and _"


def label_problem(label: str) -> str | None:
    """Why a label is refused, or None."""
    if LABEL_PATTERN.fullmatch(label):
        return None
    if len(label) > 32:
        return f"label '{label[:40]}…' is {len(label)} characters long; {LABEL_RULE}"
    return f"label '{label}' is not allowed; {LABEL_RULE}"


def read_labels_file(path: Path, label: str) -> dict[str, tuple[str, ...]]:
    """`path,label[,label…]` rows (an optional `path,label` header) → labels per image path."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError([Problem(label, "missing", "labels file not found")]) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(
            [Problem(label, "encoding", f"is not UTF-8 text ({exc.reason})")]
        ) from None
    problems: list[Problem] = []
    mapping: dict[str, tuple[str, ...]] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells):
            continue
        if lineno == 1 and cells[0].lower() in {"path", "image", "file"}:
            continue  # header
        where = f"{label}:{lineno}"
        image, labels = cells[0], tuple(c for c in cells[1:] if c)
        if not image:
            problems.append(Problem(where, "labels-file", "the first column (image path) is empty"))
            continue
        if not labels:
            problems.append(
                Problem(where, "labels-file", f"'{image}' has no label; rows are path,label[,…]")
            )
            continue
        for lab in labels:
            reason = label_problem(lab)
            if reason:
                problems.append(Problem(where, "label-pattern", reason))
        merged = mapping.get(image, ())
        mapping[image] = merged + tuple(lab for lab in labels if lab not in merged)
    if problems:
        raise DatasetError(problems)
    return mapping
