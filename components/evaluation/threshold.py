"""Choosing the confidence threshold an app uses, from a model's evaluation.

AutoML reports metrics at fixed thresholds (0.00, 0.05 … 0.95, 0.96 … 0.99). Precision and
recall are the service's overall ones: every label whose score is at or above the threshold
counts as predicted, as an on-device labeler returns every label above its threshold.
"""

from dataclasses import dataclass

from components.evaluation.metrics import ConfidencePoint, Evaluation

POLICIES = ("fixed", "precisionAtLeast", "maximize")


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float  # what the app uses
    measured_at: float  # the evaluation threshold the metrics come from (≤ threshold)
    precision: float
    recall: float
    f1: float

    @classmethod
    def at(cls, threshold: float, point: ConfidencePoint) -> "OperatingPoint":
        return cls(threshold, point.threshold, point.precision, point.recall, point.f1)


class NoThreshold(ValueError):
    """No evaluated threshold satisfies the policy; the message says what the best was."""


def point_at(evaluation: Evaluation, threshold: float) -> ConfidencePoint:
    """The evaluated point at the greatest threshold not above `threshold`."""
    below = [p for p in evaluation.points if p.threshold <= threshold + 1e-9]
    if not below:
        raise NoThreshold(f"the evaluation has no point at or below threshold {threshold:g}")
    return below[-1]


def choose(evaluation: Evaluation, policy: str, value: float | None) -> OperatingPoint:
    """The operating point chosen by `policy` (fixed | precisionAtLeast | maximize f1)."""
    points = evaluation.points
    if not points:
        raise NoThreshold("the evaluation has no confidence metrics")
    if policy == "fixed":
        assert value is not None
        return OperatingPoint.at(value, point_at(evaluation, value))
    if policy == "precisionAtLeast":
        assert value is not None
        # The lowest threshold meeting the precision target keeps the most recall.
        for p in points:
            if p.precision >= value and (p.true_positives + p.false_positives) > 0:
                return OperatingPoint.at(p.threshold, p)
        best = max(points, key=lambda p: (p.precision, p.threshold))
        raise NoThreshold(
            f"no threshold reaches precision {value:g} (the best is {best.precision:.3f} "
            f"at threshold {best.threshold:.2f})"
        )
    if policy == "maximize":
        # Ties go to the higher threshold: same F1, fewer false positives on device.
        best = max(points, key=lambda p: (p.f1, p.threshold))
        return OperatingPoint.at(best.threshold, best)
    raise ValueError(f"unknown threshold policy {policy!r}; allowed: {', '.join(POLICIES)}")
