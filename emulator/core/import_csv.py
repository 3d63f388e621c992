"""The ImportData CSV index for image classification: `[ML_USE,]gs://path[,LABEL,...]`.

Rules (AutoML Vision's InputConfig documentation):
- ML_USE is TRAIN, VALIDATION (VALIDATE), TEST or UNASSIGNED; without it a row is UNASSIGNED.
  UNASSIGNED examples are split 80/10/10 into TRAIN/VALIDATION/TEST by content hash, so the
  same image always lands in the same set.
- LABEL: up to 32 ASCII letters, digits and underscores. No label: an unlabeled image.
- The CSV must be UTF-8 and at most 100 MB.
Another API's dialect passes its ML_USE spellings and label rule (`parse_csv(ml_uses=,
label_rule=)`). Every import file format (this CSV, Vertex AI's JSON Lines) parses into
ImportRows. Pure functions: the dataset store reads the objects and applies the results.
"""

import csv
import enum
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emulator.core.errors import Code, InvalidArgument, Status

LABEL_PATTERN = re.compile(r"[A-Za-z0-9_]{1,32}")
MAX_CSV_BYTES = 100 * 1024 * 1024


class MlUse(enum.StrEnum):
    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"
    UNASSIGNED = "UNASSIGNED"


_ML_USE_SPELLINGS = {
    "TRAIN": MlUse.TRAIN,
    "TRAINING": MlUse.TRAIN,
    "VALIDATION": MlUse.VALIDATION,
    "VALIDATE": MlUse.VALIDATION,
    "TEST": MlUse.TEST,
    "UNASSIGNED": MlUse.UNASSIGNED,
}
# What an ML_USE cell may say (upper-cased) in another API's CSV dialect: `parse_csv(ml_uses=)`.
MlUseSpellings = Mapping[str, MlUse]


@dataclass(frozen=True)
class LabelRule:
    """What an image label may be, and how to say so in an error."""

    pattern: re.Pattern[str]
    description: str


AUTOML_LABELS = LabelRule(
    LABEL_PATTERN, "1 to 32 characters, each an ASCII letter, digit or underscore"
)


@dataclass(frozen=True)
class ImportRow:
    """One image of an import file: a CSV row or a JSON Lines line."""

    source: str  # gs:// URI of the import file
    line: int  # 1-based
    ml_use: MlUse
    uri: str  # gs:// URI of the image
    labels: tuple[str, ...]
    # Data item labels other than the ML_USE (Vertex AI's dataItemResourceLabels).
    item_labels: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


@dataclass(frozen=True)
class RowError:
    source: str
    line: int
    code: Code
    message: str

    @property
    def status(self) -> Status:
        return Status(self.code, f"{self.source} line {self.line}: {self.message}")


# One import file's bytes → its rows and the rows that break its format.
RowParser = Callable[[str, bytes], tuple[list[ImportRow], list[RowError]]]


def row_error(row: ImportRow, code: Code, message: str) -> RowError:
    return RowError(row.source, row.line, code, f"{row.uri}: {message}")


def decode_import_file(source: str, data: bytes, what: str = "an import CSV") -> str:
    """An import file's text; InvalidArgument when it is larger than 100 MB or not UTF-8."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidArgument(
            f"{source} is {len(data) / 1024 / 1024:.1f} MB; {what} may be at most 100 MB"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{source} is not UTF-8 text ({exc}); it must be UTF-8") from None


def parse_csv(
    source: str,
    data: bytes,
    ml_uses: MlUseSpellings | None = None,
    label_rule: LabelRule = AUTOML_LABELS,
    item_labels: tuple[tuple[str, str], ...] = (),
    default_ml_use: MlUse = MlUse.UNASSIGNED,
) -> tuple[list[ImportRow], list[RowError]]:
    """The rows of one CSV file and the rows that break the format (with line numbers).

    `ml_uses`: the ML_USE values accepted (upper-cased cell → MlUse); AutoML's by default.
    `item_labels` and `default_ml_use` (a row without ML_USE gets it) come with the file, not
    from it (Vertex AI's ImportDataConfig.data_item_labels).
    Raises InvalidArgument when the file as a whole cannot be used (too big, not UTF-8).
    """
    text = decode_import_file(source, data)
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            line = reader.line_num
            values = [value.strip() for value in fields]
            if not any(values):
                continue
            parsed = _parse_row(
                source, line, values, ml_uses, label_rule, default_ml_use, item_labels
            )
            if isinstance(parsed, ImportRow):
                rows.append(parsed)
            else:
                errors.append(parsed)
    except csv.Error as exc:
        raise InvalidArgument(
            f"{source} line {reader.line_num} cannot be parsed as CSV: {exc}"
        ) from None
    return rows, errors


def _parse_row(
    source: str,
    line: int,
    values: list[str],
    ml_uses: MlUseSpellings | None,
    label_rule: LabelRule,
    default_ml_use: MlUse,
    item_labels: tuple[tuple[str, str], ...],
) -> ImportRow | RowError:
    """One row (its ML_USE `default_ml_use` where it names none), or what is wrong with it."""
    spellings = _ML_USE_SPELLINGS if ml_uses is None else ml_uses
    allowed = "TRAIN, VALIDATION, TEST, UNASSIGNED" if ml_uses is None else ", ".join(ml_uses)
    first = values[0]
    if first.startswith("gs://"):
        ml_use, rest = MlUse.UNASSIGNED, values
    elif first.upper() in spellings:
        ml_use, rest = spellings[first.upper()], values[1:]
    else:
        return RowError(
            source,
            line,
            Code.INVALID_ARGUMENT,
            f"{first!r} is neither an ML_USE ({allowed}) nor a gs:// image path",
        )
    if not rest or not rest[0]:
        return RowError(source, line, Code.INVALID_ARGUMENT, "the row has no gs:// image path")
    uri = rest[0]
    if not uri.startswith("gs://") or len(uri) <= len("gs://") or "/" not in uri[5:]:
        return RowError(
            source,
            line,
            Code.INVALID_ARGUMENT,
            f"{uri!r} is not a Cloud Storage path; expected gs://bucket/object",
        )
    labels: list[str] = []
    for label in rest[1:]:
        if not label:
            continue  # trailing or doubled commas
        if label_rule.pattern.fullmatch(label) is None:
            return RowError(
                source,
                line,
                Code.INVALID_ARGUMENT,
                f"{uri}: label {label!r} is invalid; a label has {label_rule.description}",
            )
        if label not in labels:
            labels.append(label)
    if ml_use is MlUse.UNASSIGNED:
        ml_use = default_ml_use
    return ImportRow(source, line, ml_use, uri, tuple(labels), item_labels)


def split_position(sha256_hex: str) -> float:
    """Where an image falls in [0, 1) by its content hash (the same image, the same place)."""
    return int(sha256_hex[:15], 16) / float(16**15)


def assign_split(sha256_hex: str) -> MlUse:
    """TRAIN/VALIDATION/TEST for an UNASSIGNED image: 80/10/10 by its content hash."""
    fraction = split_position(sha256_hex)
    if fraction < 0.8:
        return MlUse.TRAIN
    if fraction < 0.9:
        return MlUse.VALIDATION
    return MlUse.TEST
