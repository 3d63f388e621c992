"""A model's evaluation metrics as plain values: what a TrainingApi adapter reads, the gate uses.

AutoML's ModelEvaluation shape (Vertex AI's classification metrics map onto it). Plain frozen
dataclasses importing nothing of this project, so the cloud adapters that produce them and the
evaluation code that reads them both depend on this module and not on each other.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ConfidencePoint:
    """Metrics at one confidence threshold, as AutoML's ConfidenceMetricsEntry."""

    threshold: float
    precision: float
    recall: float
    f1: float
    precision_at1: float
    recall_at1: float
    f1_at1: float
    false_positive_rate: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int


@dataclass(frozen=True)
class Evaluation:
    """One ModelEvaluation: overall (label None) or for one label."""

    label: str | None
    au_prc: float
    au_roc: float
    log_loss: float
    example_count: int
    points: tuple[ConfidencePoint, ...]  # ascending threshold
    confusion_labels: tuple[str, ...] = ()
    confusion_rows: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class Evaluations:
    """A model's evaluations: overall, and one per label."""

    overall: Evaluation
    per_label: Mapping[str, Evaluation]


# `edgectl rehearse --out DIR` keeps, per trained model, DIR/<model>/evaluation.json (this
# module's JSON form of its evaluations, with its criteria and label order) beside its TF Lite
# export; `edgectl studio --rehearsal DIR` reads them.
KEPT_EVALUATION_FILE = "evaluation.json"


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    """A plain-JSON form of one evaluation (`evaluation_from_json` reads it back)."""
    return {
        "label": evaluation.label,
        "auPrc": evaluation.au_prc,
        "auRoc": evaluation.au_roc,
        "logLoss": evaluation.log_loss,
        "exampleCount": evaluation.example_count,
        "points": [asdict(p) for p in evaluation.points],
        "confusionLabels": list(evaluation.confusion_labels),
        "confusionRows": [list(r) for r in evaluation.confusion_rows],
    }


def evaluation_from_json(data: Mapping[str, Any]) -> Evaluation:
    return Evaluation(
        label=data["label"],
        au_prc=float(data["auPrc"]),
        au_roc=float(data["auRoc"]),
        log_loss=float(data["logLoss"]),
        example_count=int(data["exampleCount"]),
        points=tuple(ConfidencePoint(**p) for p in data["points"]),
        confusion_labels=tuple(data.get("confusionLabels") or ()),
        confusion_rows=tuple(tuple(int(n) for n in r) for r in data.get("confusionRows") or ()),
    )


def evaluations_to_json(evaluations: Evaluations) -> dict[str, Any]:
    """A model's evaluations as plain JSON (what a rehearsal keeps for the studio)."""
    return {
        "overall": evaluation_to_json(evaluations.overall),
        "perLabel": {k: evaluation_to_json(v) for k, v in evaluations.per_label.items()},
    }


def evaluations_from_json(data: Mapping[str, Any]) -> Evaluations:
    return Evaluations(
        overall=evaluation_from_json(data["overall"]),
        per_label={k: evaluation_from_json(v) for k, v in data["perLabel"].items()},
    )
