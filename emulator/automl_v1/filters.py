"""AutoML v1's list filters, as its reference documents them, parsed into predicates.

    ListDatasets          image_classification_dataset_metadata:* (or another
                          *_dataset_metadata:*, which matches nothing here)
    ListModels            *_model_metadata:*, dataset_id=ID, dataset_id!=ID, and labels
    ListModelEvaluations  annotation_spec_id=ID, !=, :*, NOT annotation_spec_id:*
terms joined by AND. The core lists resources by predicate; the grammar is the API's.
"""

import re
from collections.abc import Callable

from emulator.core.datasets import Dataset
from emulator.core.errors import InvalidArgument
from emulator.core.models.records import EvaluationPredicate, ModelPredicate


def dataset_filter(text: str) -> Callable[[Dataset], bool]:
    """ListDatasets' filter: `*_dataset_metadata:*` (every dataset here is an image one)."""
    text = text.strip()
    if not text:
        return lambda dataset: True
    match = text.replace(" ", "")
    if not (match.endswith("_dataset_metadata:*") and match.count(":") == 1):
        raise InvalidArgument(
            f"Field: filter; Message: {text!r} is not supported; use "
            "image_classification_dataset_metadata:* (or another *_dataset_metadata:*)"
        )
    wanted = match == "image_classification_dataset_metadata:*"
    return lambda dataset: wanted


_MODEL_TERMS = (
    "image_classification_model_metadata:* (or another *_model_metadata:*), dataset_id=ID, "
    "dataset_id!=ID, labels.KEY=VALUE, labels.KEY!=VALUE, labels.KEY:*, joined by AND"
)
_EVALUATION_TERMS = (
    "annotation_spec_id=ID, annotation_spec_id!=ID, annotation_spec_id:*, "
    "NOT annotation_spec_id:*, joined by AND"
)


def _terms(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"\s+AND\s+", text.strip()) if t.strip()]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_model_filter(text: str) -> ModelPredicate:
    """ListModels' filter: what the API documents (`*_model_metadata:*`, `dataset_id=`/`!=`).

    Also `labels.KEY=VALUE`, `labels.KEY!=VALUE` and `labels.KEY:*` (the label syntax of
    Google's filters, AIP-160, as Vertex AI documents it for models). AutoML v1 does not
    document label filters, so code that must also run against the service matches labels
    on its side.
    """
    checks: list[ModelPredicate] = []
    for term in _terms(text or ""):
        compact = re.sub(r"\s+", "", term)
        if match := re.fullmatch(r"([a-z_]+)_model_metadata:\*", compact):
            wanted = match[1] == "image_classification"
            checks.append(lambda m, wanted=wanted: wanted)
        elif match := re.fullmatch(r"dataset_id(!=|=)(.+)", compact):
            op, value = match[1], _unquote(match[2])
            checks.append(lambda m, op=op, v=value: (m.dataset_id == v) == (op == "="))
        elif match := re.fullmatch(r"labels\.([a-z][a-z0-9_-]*):\*", compact):
            checks.append(lambda m, key=match[1]: key in m.labels)
        elif match := re.fullmatch(r"labels\.([a-z][a-z0-9_-]*)(!=|=)(.*)", compact):
            key, op, value = match[1], match[2], _unquote(match[3])
            checks.append(lambda m, k=key, op=op, v=value: (m.labels.get(k) == v) == (op == "="))
        else:
            raise InvalidArgument(
                f"Field: filter; Message: {term!r} is not supported; use {_MODEL_TERMS}"
            )
    return lambda model: all(check(model) for check in checks)


def parse_evaluation_filter(text: str) -> EvaluationPredicate:
    """ListModelEvaluations' filter as the API documents it ("" lists every evaluation)."""
    checks: list[EvaluationPredicate] = []
    for term in _terms(text or ""):
        compact = re.sub(r"\s+", " ", term)
        if re.fullmatch(r"NOT annotation_spec_id ?: ?\*", compact):
            checks.append(lambda e: e.annotation_spec_id == "")
        elif re.fullmatch(r"annotation_spec_id ?: ?\*", compact):
            checks.append(lambda e: e.annotation_spec_id != "")
        elif match := re.fullmatch(r"annotation_spec_id ?(!=|=) ?(\"?)([0-9]+)\2", compact):
            op, value = match[1], match[3]
            checks.append(lambda e, op=op, v=value: (e.annotation_spec_id == v) == (op == "="))
        else:
            raise InvalidArgument(
                f"Field: filter; Message: {term!r} is not supported; use {_EVALUATION_TERMS}"
            )
    return lambda evaluation: all(check(evaluation) for check in checks)
