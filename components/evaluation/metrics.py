"""A model's evaluation metrics as plain values: what a TrainingApi adapter reads, the gate uses.

AutoML's ModelEvaluation shape (Vertex AI's classification metrics map onto it). Plain frozen
dataclasses importing nothing of this project, so the cloud adapters that produce them and the
evaluation code that reads them both depend on this module and not on each other.
"""

from collections.abc import Mapping
from dataclasses import dataclass


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
