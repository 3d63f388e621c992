"""Vertex AI's image classification import files, read into the core's ImportRows.

As "Prepare image training data for classification" documents them, for both import schemas
(single-label: `classificationAnnotation`; multi-label: `classificationAnnotations`):
- CSV: `[ML_USE],GCS_FILE_PATH,[LABEL…]`, ML_USE `training`, `validation` or `test` (any
  case); labels start with a letter and hold letters, digits and underscores.
- JSON Lines: one object per line, `imageGcsUri` (the only required field), the annotation(s)
  (`displayName`, optional `annotationResourceLabels`), and `dataItemResourceLabels`, whose
  system key `aiplatform.googleapis.com/ml_use` gives the ML_USE.
ImportDataConfig.data_item_labels apply to every image of its files; an ML_USE or label in a
file overrides them ("These labels will be overridden by Annotation labels specified inside
index file"). Annotation labels (`annotationResourceLabels`, `annotation_labels`) are checked
and not kept: no emulated method reads annotations.
"""

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from emulator.core.datasets import ImportSource, validate_resource_labels
from emulator.core.errors import Code, InvalidArgument
from emulator.core.import_csv import (
    ImportRow,
    LabelRule,
    MlUse,
    RowError,
    decode_import_file,
    parse_csv,
)

ML_USE_LABEL = "aiplatform.googleapis.com/ml_use"
ANNOTATION_SET_LABEL = "aiplatform.googleapis.com/annotation_set_name"
# The ML_USE of Vertex AI's CSV and its data item label (TRAINING, TEST, VALIDATION).
ML_USES = {"TRAINING": MlUse.TRAIN, "VALIDATION": MlUse.VALIDATION, "TEST": MlUse.TEST}
ML_USE_VALUES = {MlUse.TRAIN: "training", MlUse.VALIDATION: "validation", MlUse.TEST: "test"}
# "Labels must start with a letter and only contain letters, numbers, and underscores" (CSV);
# the length is an AnnotationSpec display name's ("up to 128 characters").
CSV_LABELS = LabelRule(
    re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}"),
    "1 to 128 characters: an ASCII letter, then ASCII letters, digits and underscores",
)
MAX_LABEL_CHARS = 128  # AnnotationSpec.display_name: "up to 128 characters", any UTF-8
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# Data item labels as the core keeps them: (ML_USE or UNASSIGNED, the other labels sorted).
ItemLabels = tuple[MlUse, tuple[tuple[str, str], ...]]


def _string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def item_labels(labels: Any) -> ItemLabels:
    """Data item labels → (their ML_USE, the other labels); ValueError saying what is wrong."""
    if not _string_map(labels):
        raise ValueError("an object of string keys and string values is required")
    others = {k: v for k, v in labels.items() if k != ML_USE_LABEL}
    system = [k for k in others if k.startswith("aiplatform.googleapis.com/")]
    if system:
        raise ValueError(
            f"{system[0]} is not a data item label the service defines; its only system key "
            f"is {ML_USE_LABEL}"
        )
    try:
        validate_resource_labels(others)
    except InvalidArgument as exc:
        raise ValueError(exc.message.split("Message: ", 1)[-1]) from None
    use = MlUse.UNASSIGNED
    if ML_USE_LABEL in labels:
        value = labels[ML_USE_LABEL]
        found = ML_USES.get(value.strip().upper())
        if found is None:
            raise ValueError(
                f"{ML_USE_LABEL}={value!r} is not an ML_USE; allowed: training, validation, test"
            )
        use = found
    return use, tuple(sorted(others.items()))


def _annotation_labels(value: Any, where: str) -> None:
    if value is not None and not _string_map(value):
        raise ValueError(f"{where}: an object of string keys and string values is required")


def _label(annotation: Any, where: str) -> str:
    if not isinstance(annotation, dict):
        raise ValueError(f"{where}: an object with displayName is required")
    name = annotation.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.displayName: a label is required")
    if len(name) > MAX_LABEL_CHARS or _CONTROL.search(name):
        raise ValueError(
            f"{where}.displayName: {name[:40]!r} is not a label; a label has 1 to "
            f"{MAX_LABEL_CHARS} characters and no control characters"
        )
    _annotation_labels(
        annotation.get("annotationResourceLabels"), f"{where}.annotationResourceLabels"
    )
    return name


def _jsonl_row(
    source: str,
    line: int,
    text: str,
    multilabel: bool,
    defaults: ItemLabels,
) -> ImportRow:
    """One JSON Lines line as an ImportRow; ValueError naming what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON object ({exc.msg} at column {exc.colno})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    uri = document.get("imageGcsUri")
    if not isinstance(uri, str) or not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(
            f"imageGcsUri: {uri!r} is not a Cloud Storage path; it is required, gs://bucket/object"
        )
    mine, other = (
        ("classificationAnnotations", "classificationAnnotation")
        if multilabel
        else ("classificationAnnotation", "classificationAnnotations")
    )
    if other in document:
        raise ValueError(
            f"{uri}: {other} belongs to the {'single' if multilabel else 'multi'}-label schema; "
            f"this import's schema ({'multi' if multilabel else 'single'}-label) reads {mine}"
        )
    labels: list[str] = []
    annotations = document.get(mine)
    if multilabel and annotations is not None:
        if not isinstance(annotations, list):
            raise ValueError(f"{uri}: {mine} must be a list of annotations")
        for i, annotation in enumerate(annotations):
            label = _label(annotation, f"{uri}: {mine}[{i}]")
            if label not in labels:
                labels.append(label)
    elif annotations is not None:
        labels.append(_label(annotations, f"{uri}: {mine}"))
    use, others = defaults
    raw = document.get("dataItemResourceLabels")
    if raw is not None:
        try:
            file_use, file_labels = item_labels(raw)
        except ValueError as exc:
            raise ValueError(f"{uri}: dataItemResourceLabels: {exc}") from None
        use = file_use if file_use is not MlUse.UNASSIGNED else use
        others = tuple(sorted({**dict(others), **dict(file_labels)}.items()))
    return ImportRow(source, line, use, uri, tuple(labels), others)


def parse_jsonl(
    source: str,
    data: bytes,
    *,
    multilabel: bool,
    defaults: ItemLabels = (MlUse.UNASSIGNED, ()),
) -> tuple[list[ImportRow], list[RowError]]:
    """The images of one JSON Lines file and the lines that break the format."""
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for number, text in enumerate(
        decode_import_file(source, data, "an import file").splitlines(), 1
    ):
        if not text.strip():
            continue
        try:
            rows.append(_jsonl_row(source, number, text, multilabel, defaults))
        except ValueError as exc:
            errors.append(RowError(source, number, Code.INVALID_ARGUMENT, str(exc)))
    return rows, errors


def import_sources(
    uris: list[str],
    *,
    multilabel: bool,
    data_item_labels: Mapping[str, str],
    where: str,
) -> list[ImportSource]:
    """One ImportDataConfig's files (`.csv` or `.jsonl`), each read with its labels."""
    try:
        defaults = item_labels(dict(data_item_labels))
    except ValueError as exc:
        raise InvalidArgument(f"Field: {where}.data_item_labels; Message: {exc}") from None
    default_use, labels = defaults
    sources = []
    for uri in uris:
        suffix = uri.lower().rsplit(".", 1)[-1]
        if suffix == "jsonl":
            parse = functools.partial(parse_jsonl, multilabel=multilabel, defaults=defaults)
        elif suffix == "csv":
            parse = functools.partial(
                parse_csv,
                ml_uses=ML_USES,
                label_rule=CSV_LABELS,
                item_labels=labels,
                default_ml_use=default_use,
            )
        else:
            raise InvalidArgument(
                f"Field: {where}.gcs_source.uris; Message: {uri} must be a JSON Lines (.jsonl) "
                "or CSV (.csv) file"
            )
        sources.append(ImportSource(uri, parse))
    return sources
