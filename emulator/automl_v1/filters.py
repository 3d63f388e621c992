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


# One predicate per term; each binds its own values (a lambda in the parser's loop would see
# the loop's last ones).
def _every_model(result: bool) -> ModelPredicate:
    return lambda model: result


def _dataset_id_is(dataset_id: str, *, equal: bool) -> ModelPredicate:
    return lambda model: (model.dataset_id == dataset_id) == equal


def _has_label(key: str) -> ModelPredicate:
    return lambda model: key in model.labels


def _label_is(key: str, value: str, *, equal: bool) -> ModelPredicate:
    return lambda model: (model.labels.get(key) == value) == equal


def _annotation_spec_id_is(spec_id: str, *, equal: bool) -> EvaluationPredicate:
    return lambda evaluation: (evaluation.annotation_spec_id == spec_id) == equal


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
            checks.append(_every_model(match[1] == "image_classification"))
        elif match := re.fullmatch(r"dataset_id(!=|=)(.+)", compact):
            checks.append(_dataset_id_is(_unquote(match[2]), equal=match[1] == "="))
        elif match := re.fullmatch(r"labels\.([a-z][a-z0-9_-]*):\*", compact):
            checks.append(_has_label(match[1]))
        elif match := re.fullmatch(r"labels\.([a-z][a-z0-9_-]*)(!=|=)(.*)", compact):
            checks.append(_label_is(match[1], _unquote(match[3]), equal=match[2] == "="))
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
            checks.append(_annotation_spec_id_is(match[3], equal=match[1] == "="))
        else:
            raise InvalidArgument(
                f"Field: filter; Message: {term!r} is not supported; use {_EVALUATION_TERMS}"
            )
    return lambda evaluation: all(check(evaluation) for check in checks)
