"""The Cloud Storage CSV index AutoML imports: `[ML_USE,]gs://bucket/object[,label…]`."""

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from components.data.errors import DatasetError, Problem
from components.data.labels import label_problem
from components.data.manifest import Entry

ML_USES = ("TRAIN", "VALIDATION", "TEST", "UNASSIGNED")
_GCS_URI = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(.+)")


@dataclass(frozen=True)
class IndexRow:
    line: int
    ml_use: str | None  # None or UNASSIGNED: the split is assigned by content hash
    uri: str
    labels: tuple[str, ...]


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/object → (bucket, object); ValueError naming the rule otherwise."""
    m = _GCS_URI.fullmatch(uri)
    if not m:
        raise ValueError(f"'{uri}' is not a Cloud Storage URI of the form gs://bucket/object")
    return m.group(1), m.group(2)


def parse_index(text: str, where: str) -> list[IndexRow]:
    """Parses and validates every row; raises DatasetError listing every bad row."""
    rows: list[IndexRow] = []
    problems: list[Problem] = []
    for lineno, raw in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in raw]
        if not any(cells):
            continue
        at = f"{where}:{lineno}"
        ml_use = None
        if cells[0].upper() in ML_USES:
            ml_use = cells[0].upper()
            cells = cells[1:]
        if not cells or not cells[0]:
            problems.append(
                Problem(
                    at,
                    "csv-row",
                    "has no gs:// image URI; rows are [ML_USE,]gs://bucket/object[,label…]",
                )
            )
            continue
        try:
            parse_gcs_uri(cells[0])
        except ValueError as exc:
            problems.append(Problem(at, "csv-uri", str(exc)))
            continue
        labels = tuple(c for c in cells[1:] if c)
        for lab in labels:
            reason = label_problem(lab)
            if reason:
                problems.append(Problem(at, "label-pattern", reason))
        rows.append(IndexRow(lineno, None if ml_use == "UNASSIGNED" else ml_use, cells[0], labels))
    if problems:
        raise DatasetError(problems)
    if not rows:
        raise DatasetError([Problem(where, "csv-empty", "has no rows")])
    return rows


def write_index(bucket: str, entries: Sequence[Entry]) -> str:
    """The index of a manifest's content-addressed images, with each image's split."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for e in entries:
        writer.writerow([e.split, f"gs://{bucket}/{e.object_name}", *e.labels])
    return buf.getvalue()
