"""The acceptance gate: a model ships only when every criterion of its spec holds.

All criteria are checked and every unmet one is reported (observed vs required), so one
failed deployment tells the whole story. `noWorseThan: published` compares with the
metrics recorded for the model this stack currently publishes: the candidate's AuPRC and
its F1 at the chosen threshold must not be lower.

`check` is the one check, in one wording: `evaluate` runs it on the evaluations once the
threshold is chosen, a PromotedModel and `edgectl promote` on another stack's registry record.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NotRequired, TypedDict

from components.evaluation.metrics import Evaluations
from components.evaluation.threshold import NoThreshold, OperatingPoint, choose, point_at
from components.spec import Acceptance

# Metrics are compared after rounding to this many decimals, so 0.9 is met by 0.8999999.
PRECISION_DIGITS = 6


class LabelMinimumProps(TypedDict):
    min_precision: NotRequired[float | None]
    min_recall: NotRequired[float | None]


class CriteriaProps(TypedDict):
    """Criteria as a gate's `criteria` input carries them."""

    policy: str
    value: NotRequired[float | None]
    min_precision: NotRequired[float | None]
    min_recall: NotRequired[float | None]
    min_au_prc: NotRequired[float | None]
    per_label: dict[str, LabelMinimumProps]
    no_worse_than_published: bool


class LabelMetricsProps(TypedDict):
    precision: NotRequired[float | None]
    recall: NotRequired[float | None]
    f1: NotRequired[float | None]
    au_prc: NotRequired[float | None]


class GateDecision(TypedDict):
    """A gate's decision as its outputs and the registry record carry it."""

    passed: bool
    policy: str
    threshold: NotRequired[float | None]
    measuredAt: NotRequired[float | None]
    precision: NotRequired[float | None]
    recall: NotRequired[float | None]
    f1: NotRequired[float | None]
    auPrc: NotRequired[float | None]
    perLabel: dict[str, LabelMetricsProps]
    failures: list[str]


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

    def to_props(self) -> CriteriaProps:
        return {
            "policy": self.policy,
            "value": self.value,
            "min_precision": self.min_precision,
            "min_recall": self.min_recall,
            "min_au_prc": self.min_au_prc,
            "per_label": {
                k: {"min_precision": v.min_precision, "min_recall": v.min_recall}
                for k, v in self.per_label.items()
            },
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
class LabelMetrics:
    """One label's metrics at the chosen threshold (None: a record that lacks it)."""

    precision: float | None
    recall: float | None
    f1: float | None
    au_prc: float | None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Observed:
    """A model's metrics at its chosen threshold: what `check` holds against the criteria.

    Built from the evaluations once the threshold is chosen (`at`), or from the `gate` of a
    registry record (`from_props`), so a model gated on one stack is checked against another
    stack's acceptance exactly as it was gated. `threshold` is None when no threshold could
    be chosen: then only AuPRC, which needs none, is checked.
    """

    threshold: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    au_prc: float | None
    per_label: Mapping[str, LabelMetrics] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def at(cls, evaluations: Evaluations, point: OperatingPoint | None) -> "Observed":
        """The evaluations' metrics at the chosen operating point (None: none was chosen)."""
        au_prc = evaluations.overall.au_prc
        if point is None:
            return cls(None, None, None, None, au_prc)
        per_label = {}
        for label, ev in sorted(evaluations.per_label.items()):
            p = point_at(ev, point.threshold)
            per_label[label] = LabelMetrics(p.precision, p.recall, p.f1, ev.au_prc)
        return cls(
            point.threshold,
            point.precision,
            point.recall,
            point.f1,
            au_prc,
            MappingProxyType(per_label),
        )

    @classmethod
    def from_props(cls, gate: Mapping[str, Any]) -> "Observed":
        """From `GateResult.to_props()`, as a registry record's `gate` holds it."""
        per_label = gate.get("perLabel") or {}
        return cls(
            threshold=_number(gate.get("threshold")),
            precision=_number(gate.get("precision")),
            recall=_number(gate.get("recall")),
            f1=_number(gate.get("f1")),
            au_prc=_number(gate.get("auPrc")),
            per_label=MappingProxyType(
                {
                    label: LabelMetrics(
                        _number(m.get("precision")),
                        _number(m.get("recall")),
                        _number(m.get("f1")),
                        _number(m.get("au_prc")),
                    )
                    for label, m in sorted(per_label.items())
                }
            ),
        )


@dataclass(frozen=True)
class GateResult:
    passed: bool
    policy: str
    point: OperatingPoint | None  # None: no threshold meets the policy
    observed: Observed
    failures: tuple[str, ...]

    def to_props(self) -> GateDecision:
        """The gate's outputs, which the registry record keeps (`Observed.from_props` reads
        them back): keep the keys stable, records of older versions are read too."""
        o = self.observed
        return {
            "passed": self.passed,
            "policy": self.policy,
            "threshold": o.threshold,
            "measuredAt": self.point.measured_at if self.point else None,
            "precision": o.precision,
            "recall": o.recall,
            "f1": o.f1,
            "auPrc": o.au_prc,
            "perLabel": {
                label: {
                    "precision": m.precision,
                    "recall": m.recall,
                    "f1": m.f1,
                    "au_prc": m.au_prc,
                }
                for label, m in o.per_label.items()
            },
            "failures": list(self.failures),
        }

    def message(self, subject: str) -> str:
        """One message listing every unmet criterion (for a failed deployment)."""
        at = f" at threshold {self.point.threshold:g}" if self.point else ""
        return unmet_message(
            f"{subject} failed its acceptance gate ({self.policy}{at}):",
            self.failures,
            "Nothing downstream of this model was exported or published.",
        )


def unmet_message(headline: str, failures: Sequence[str], outcome: str | None = None) -> str:
    """A refusal: the headline, each unmet criterion on its own line, then what was not done."""
    lines = [headline, *(f"  - {f}" for f in failures)]
    return "\n".join(lines if outcome is None else [*lines, outcome])


def _below(observed: float | None, required: float) -> bool:
    return observed is None or round(observed, PRECISION_DIGITS) < round(required, PRECISION_DIGITS)


def show_metric(value: float | None) -> str:
    """A metric as messages show it: 3 decimals, or `(not recorded)` when a record lacks it."""
    return "(not recorded)" if value is None else f"{value:.3f}"


def _minimum(
    name: str, observed: float | None, criterion: str, required: float | None
) -> list[str]:
    """`[message]` when `observed` is below the criterion's minimum, else `[]`."""
    if required is None or not _below(observed, required):
        return []
    return [f"{name} {show_metric(observed)} is below {criterion} {required:g}"]


def _per_label(observed: Observed, criteria: Criteria) -> list[str]:
    failures = []
    for label, minimum in sorted(criteria.per_label.items()):
        metrics = observed.per_label.get(label)
        if metrics is None:
            known = ", ".join(sorted(observed.per_label)) or "none"
            failures.append(
                f"label '{label}' (perLabel) is not a label of this model; labels: {known}"
            )
            continue
        for name, value, criterion, required in (
            ("precision", metrics.precision, "minPrecision", minimum.min_precision),
            ("recall", metrics.recall, "minRecall", minimum.min_recall),
        ):
            failures += [
                f"label '{label}': {f}" for f in _minimum(name, value, criterion, required)
            ]
    return failures


def _no_worse(observed: Observed, baseline: Baseline) -> list[str]:
    compared = [("AuPRC", observed.au_prc, baseline.au_prc)]
    if observed.threshold is not None:  # F1 is measured at a threshold
        compared.append(("F1", observed.f1, baseline.f1))
    return [
        f"{name} {show_metric(value)} is worse than the published model's {required:.3f} "
        f"(noWorseThan: published, {baseline.fingerprint[:19]}…)"
        for name, value, required in compared
        if _below(value, required)
    ]


def check(
    observed: Observed, criteria: Criteria, baseline: Baseline | None = None
) -> tuple[str, ...]:
    """Every criterion `observed` does not meet, each with observed vs required.

    The one check of the gate, of a promoted model and of `edgectl promote`. The threshold
    policy is not checked here: the threshold was chosen before (`evaluate`, or where the
    record was gated). `baseline` is what this stack publishes, for `noWorseThan: published`
    (None: nothing to compare with).
    """
    at_threshold = observed.threshold is not None
    failures: list[str] = []
    if at_threshold:
        failures += _minimum(
            "precision", observed.precision, "minPrecision", criteria.min_precision
        )
        failures += _minimum("recall", observed.recall, "minRecall", criteria.min_recall)
    failures += _minimum("AuPRC", observed.au_prc, "minAuPrc", criteria.min_au_prc)
    if at_threshold:
        failures += _per_label(observed, criteria)
    if criteria.no_worse_than_published and baseline is not None:
        failures += _no_worse(observed, baseline)
    return tuple(failures)


class NotAccepted(Exception):
    """A gated record refused for a stack; the message lists why and what was not done."""


def accept_record(
    gate: Mapping[str, Any],
    criteria: Criteria,
    baseline: Baseline | None,
    *,
    fingerprint: str,
    origin: str,
    target: str,
    record_uri: str,
    outcome: str,
) -> tuple[Observed, float]:
    """A record gated on stack `origin`, held against stack `target`'s acceptance: its
    metrics and threshold, or NotAccepted when it did not pass its gate, misses a criterion
    (`baseline`: what the target publishes) or has no threshold. The one acceptance of a
    promotion: `edgectl promote` and the PromotedModel provider both call it."""
    observed = Observed.from_props(gate)
    unmet = [] if gate.get("passed") else [f"it did not pass its gate on stack '{origin}'"]
    unmet += check(observed, criteria, baseline)
    if unmet:
        raise NotAccepted(
            unmet_message(
                f"{fingerprint[:19]}… from stack '{origin}' does not meet the acceptance of "
                f"stack '{target}':",
                unmet,
                outcome,
            )
        )
    if observed.threshold is None:  # a passed gate always chose one: written by hand?
        raise NotAccepted(
            f"{record_uri} (the registry record on stack '{origin}') has no threshold in its "
            f"gate: the confidence threshold apps use travels with a promoted model. {outcome}"
        )
    return observed, observed.threshold


def evaluate(
    evaluations: Evaluations, criteria: Criteria, baseline: Baseline | None = None
) -> GateResult:
    """Chooses the threshold, then checks every criterion; never raises for an unmet one."""
    failures: list[str] = []
    try:
        point: OperatingPoint | None = choose(evaluations.overall, criteria.policy, criteria.value)
    except NoThreshold as exc:
        point = None
        failures.append(f"threshold ({criteria.describe()}): {exc}")
    observed = Observed.at(evaluations, point)
    failures += check(observed, criteria, baseline)
    return GateResult(
        passed=not failures,
        policy=criteria.describe(),
        point=point,
        observed=observed,
        failures=tuple(failures),
    )
