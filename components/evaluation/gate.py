"""The acceptance gate: a model ships only when every criterion of its spec holds.

All criteria are checked and every unmet one is reported (observed vs required), so one
failed deployment tells the whole story. `noWorseThan: published` compares with the
metrics recorded for the model this stack currently publishes: the candidate's AuPRC and
its F1 at the chosen threshold must not be lower.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from components.cloud.training import Evaluations
from components.evaluation.threshold import NoThreshold, OperatingPoint, choose, point_at
from components.spec import Acceptance

# Metrics are compared after rounding to this many decimals, so 0.9 is met by 0.8999999.
PRECISION_DIGITS = 6


@dataclass(frozen=True)
class LabelMinimum:
    min_precision: float | None = None
    min_recall: float | None = None


@dataclass(frozen=True)
class Criteria:
    policy: str  # fixed | precisionAtLeast | maximize
    value: float | None  # the fixed threshold or the precision target
    min_precision: float | None = None
    min_recall: float | None = None
    min_au_prc: float | None = None
    per_label: Mapping[str, LabelMinimum] = field(default_factory=lambda: MappingProxyType({}))
    no_worse_than_published: bool = False

    @classmethod
    def from_acceptance(cls, acceptance: Acceptance) -> "Criteria":
        t = acceptance.threshold
        return cls(
            policy=t.kind.value,
            value=t.value,
            min_precision=acceptance.min_precision,
            min_recall=acceptance.min_recall,
            min_au_prc=acceptance.min_au_prc,
            per_label=MappingProxyType(
                {
                    label: LabelMinimum(m.min_precision, m.min_recall)
                    for label, m in acceptance.per_label.items()
                }
            ),
            no_worse_than_published=acceptance.no_worse_than == "published",
        )

    def to_props(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "value": self.value,
            "min_precision": self.min_precision,
            "min_recall": self.min_recall,
            "min_au_prc": self.min_au_prc,
            "per_label": {k: asdict(v) for k, v in self.per_label.items()},
            "no_worse_than_published": self.no_worse_than_published,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "Criteria":
        return cls(
            policy=props["policy"],
            value=props.get("value"),
            min_precision=props.get("min_precision"),
            min_recall=props.get("min_recall"),
            min_au_prc=props.get("min_au_prc"),
            per_label=MappingProxyType(
                {k: LabelMinimum(**v) for k, v in (props.get("per_label") or {}).items()}
            ),
            no_worse_than_published=bool(props.get("no_worse_than_published")),
        )

    def describe(self) -> str:
        if self.policy == "fixed":
            return f"fixed {self.value:g}"
        if self.policy == "precisionAtLeast":
            return f"precisionAtLeast {self.value:g}"
        return "maximize f1"


@dataclass(frozen=True)
class Baseline:
    """What the stack serves now (from its registry record), for `noWorseThan: published`."""

    fingerprint: str
    au_prc: float
    f1: float


@dataclass(frozen=True)
class LabelResult:
    label: str
    precision: float
    recall: float
    f1: float
    au_prc: float


@dataclass(frozen=True)
class GateResult:
    passed: bool
    policy: str
    point: OperatingPoint | None
    au_prc: float
    labels: tuple[LabelResult, ...]
    failures: tuple[str, ...]

    def to_props(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "policy": self.policy,
            "threshold": self.point.threshold if self.point else None,
            "measuredAt": self.point.measured_at if self.point else None,
            "precision": self.point.precision if self.point else None,
            "recall": self.point.recall if self.point else None,
            "f1": self.point.f1 if self.point else None,
            "auPrc": self.au_prc,
            "perLabel": {
                r.label: {k: v for k, v in asdict(r).items() if k != "label"} for r in self.labels
            },
            "failures": list(self.failures),
        }

    def message(self, subject: str) -> str:
        """One message listing every unmet criterion (for a failed deployment)."""
        at = f" at threshold {self.point.threshold:g}" if self.point else ""
        lines = [f"{subject} failed its acceptance gate ({self.policy}{at}):"]
        lines += [f"  - {f}" for f in self.failures]
        lines.append("Nothing downstream of this model was exported or published.")
        return "\n".join(lines)


def _below(observed: float, required: float) -> bool:
    return round(observed, PRECISION_DIGITS) < round(required, PRECISION_DIGITS)


def evaluate(
    evaluations: Evaluations, criteria: Criteria, baseline: Baseline | None = None
) -> GateResult:
    """Chooses the threshold and checks every criterion; never raises for an unmet one."""
    failures: list[str] = []
    overall = evaluations.overall
    try:
        point: OperatingPoint | None = choose(overall, criteria.policy, criteria.value)
    except NoThreshold as exc:
        point = None
        failures.append(f"threshold ({criteria.describe()}): {exc}")
    if point is not None:
        if criteria.min_precision is not None and _below(point.precision, criteria.min_precision):
            failures.append(
                f"precision {point.precision:.3f} is below minPrecision {criteria.min_precision:g}"
            )
        if criteria.min_recall is not None and _below(point.recall, criteria.min_recall):
            failures.append(f"recall {point.recall:.3f} is below minRecall {criteria.min_recall:g}")
    if criteria.min_au_prc is not None and _below(overall.au_prc, criteria.min_au_prc):
        failures.append(f"AuPRC {overall.au_prc:.3f} is below minAuPrc {criteria.min_au_prc:g}")

    labels: list[LabelResult] = []
    threshold = point.threshold if point else None
    for label, ev in sorted(evaluations.per_label.items()):
        if threshold is None:
            continue
        p = point_at(ev, threshold)
        labels.append(LabelResult(label, p.precision, p.recall, p.f1, ev.au_prc))
    by_label = {r.label: r for r in labels}
    for label, minimum in sorted(criteria.per_label.items()):
        result = by_label.get(label)
        if result is None:
            if threshold is not None:
                known = ", ".join(sorted(evaluations.per_label)) or "none"
                failures.append(
                    f"label '{label}' (perLabel) is not a label of this model; labels: {known}"
                )
            continue
        if minimum.min_precision is not None and _below(result.precision, minimum.min_precision):
            failures.append(
                f"label '{label}': precision {result.precision:.3f} is below "
                f"minPrecision {minimum.min_precision:g}"
            )
        if minimum.min_recall is not None and _below(result.recall, minimum.min_recall):
            failures.append(
                f"label '{label}': recall {result.recall:.3f} is below "
                f"minRecall {minimum.min_recall:g}"
            )

    if criteria.no_worse_than_published and baseline is not None:
        if _below(overall.au_prc, baseline.au_prc):
            failures.append(
                f"AuPRC {overall.au_prc:.3f} is worse than the published model's "
                f"{baseline.au_prc:.3f} (noWorseThan: published, {baseline.fingerprint[:19]}…)"
            )
        if point is not None and _below(point.f1, baseline.f1):
            failures.append(
                f"F1 {point.f1:.3f} is worse than the published model's {baseline.f1:.3f} "
                f"(noWorseThan: published, {baseline.fingerprint[:19]}…)"
            )
    return GateResult(
        passed=not failures,
        policy=criteria.describe(),
        point=point,
        au_prc=overall.au_prc,
        labels=tuple(labels),
        failures=tuple(failures),
    )
