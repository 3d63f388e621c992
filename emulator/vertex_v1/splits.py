"""Vertex AI's data splits: which images train, validate and test in one pipeline's training.

FractionSplit assigns every image by its content hash in the given proportions; FilterSplit by
filters (emulator/vertex_v1/filters.py) on its data item labels. Either replaces the ML_USE
an image was imported with, for that training only. Data items carry the system label
`aiplatform.googleapis.com/ml_use` (`training` | `validation` | `test`) when they were
imported with an ML_USE, and the data item labels they were imported with.
"""

from collections.abc import Callable

from emulator.core.datasets import Example
from emulator.core.errors import InvalidArgument
from emulator.core.import_csv import MlUse, split_position
from emulator.core.models.training import SplitAssignment
from emulator.vertex_v1.filters import Fields, parse_filter
from emulator.vertex_v1.imports import ML_USE_LABEL, ML_USE_VALUES

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_ROLES = (MlUse.TRAIN, MlUse.VALIDATION, MlUse.TEST)


def data_item_labels(example: Example) -> dict[str, str]:
    """An imported image's data item labels: its own, and its ML_USE when it has one."""
    value = ML_USE_VALUES.get(example.ml_use)
    return {**example.item_labels, **({ML_USE_LABEL: value} if value else {})}


def fraction_split(
    training: float, validation: float, test: float, field_name: str = "fraction_split"
) -> SplitAssignment:
    """Assigns every image by its content hash in these proportions (ML_USE is ignored).

    All three 0: the default 0.8/0.1/0.1. The fractions may not sum to more than 1 (what is
    left over is not used).
    """
    fractions = (training, validation, test)
    if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise InvalidArgument(
            f"Field: {field_name}; Message: {training}/{validation}/{test}: fractions must be "
            "non-negative and sum to at most 1"
        )
    if not any(fractions):
        fractions = DEFAULT_FRACTIONS

    def assign(example: Example) -> MlUse | None:
        position = split_position(example.image_sha256)
        bound = 0.0
        for role, fraction in zip(_ROLES, fractions, strict=True):
            bound += fraction
            if position < bound:
                return role
        return None

    return assign


def filter_split(
    training: str, validation: str, test: str, field_name: str = "filter_split"
) -> SplitAssignment:
    """Assigns images by filters on their labels, e.g. `labels.aiplatform.googleapis.com/ml_use=
    training`; `-` matches nothing. An image matching several goes to the first set (training,
    validation, test); one matching none is left out."""
    fields: Fields[Example] = Fields(values={}, labels=data_item_labels)
    checks: list[tuple[MlUse, Callable[[Example], bool]]] = []
    for role, text, part in zip(
        _ROLES, (training, validation, test), ("training", "validation", "test"), strict=True
    ):
        where = f"{field_name}.{part}_filter"
        if not text.strip():
            raise InvalidArgument(
                f"Field: {where}; Message: required; a filter on data items (e.g. "
                f'labels.{ML_USE_LABEL}={ML_USE_VALUES[role]}) or "-" to match nothing'
            )
        if text.strip() == "-":
            continue
        checks.append((role, parse_filter(text, fields, where)))

    def assign(example: Example) -> MlUse | None:
        return next((role for role, matches in checks if matches(example)), None)

    return assign
