"""Threshold policies and the acceptance gate on hand-built evaluations."""

import json
from types import MappingProxyType

import pytest

from components.cloud.records import RegistryRecord
from components.evaluation.gate import (
    Baseline,
    Criteria,
    LabelMetrics,
    LabelMinimum,
    Observed,
    check,
    evaluate,
)
from components.evaluation.metrics import ConfidencePoint, Evaluation, Evaluations
from components.evaluation.threshold import NoThreshold, choose

THRESHOLDS = [round(0.05 * i, 2) for i in range(20)] + [0.96, 0.97, 0.98, 0.99]


def _point(t, tp, fp, fn):
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ConfidencePoint(t, precision, recall, f1, precision, recall, f1, 0.0, tp, fp, fn, 0)


def _evaluation(label=None, au_prc=0.95, shape=lambda t: (90 - int(40 * t), int(30 * (1 - t)))):
    """100 positives; as the threshold rises, fewer true and fewer false positives."""
    points = []
    for t in THRESHOLDS:
        tp, fp = shape(t)
        points.append(_point(t, tp, fp, 100 - tp))
    return Evaluation(label, au_prc, 0.97, 0.2, 100, tuple(points))


def _evaluations(**per_label_shapes):
    labels = {k: _evaluation(k, shape=v) for k, v in per_label_shapes.items()}
    return Evaluations(_evaluation(), MappingProxyType(labels))


def test_fixed_threshold_uses_the_grid_point_below_it():
    point = choose(_evaluation(), "fixed", 0.52)
    assert point.threshold == 0.52 and point.measured_at == 0.5


def test_precision_at_least_picks_the_lowest_threshold_meeting_it():
    point = choose(_evaluation(), "precisionAtLeast", 0.9)
    # precision rises with the threshold; the first point ≥ 0.9 keeps the most recall
    assert point.precision >= 0.9
    earlier = [p for p in _evaluation().points if p.threshold < point.threshold]
    assert all(p.precision < 0.9 for p in earlier)


def test_precision_nobody_reaches_names_the_best():
    with pytest.raises(NoThreshold, match=r"no threshold reaches precision 0.999 \(the best is"):
        choose(_evaluation(shape=lambda t: (50, 10)), "precisionAtLeast", 0.999)


def test_maximize_f1_breaks_ties_towards_the_higher_threshold():
    point = choose(_evaluation(shape=lambda t: (80, 10)), "maximize", None)
    assert point.threshold == 0.99


def test_every_unmet_criterion_is_listed_with_observed_and_required():
    evals = _evaluations(zero=lambda t: (95, 1), one=lambda t: (40, 30))
    criteria = Criteria(
        policy="fixed",
        value=0.5,
        min_precision=0.99,
        min_recall=0.95,
        min_au_prc=0.97,
        per_label=MappingProxyType(
            {
                "one": LabelMinimum(min_recall=0.5),
                "zero": LabelMinimum(min_precision=0.9),
                "seven": LabelMinimum(min_recall=0.1),
            }
        ),
    )
    result = evaluate(evals, criteria)
    assert not result.passed
    assert result.failures == (
        "precision 0.824 is below minPrecision 0.99",
        "recall 0.700 is below minRecall 0.95",
        "AuPRC 0.950 is below minAuPrc 0.97",
        "label 'one': recall 0.400 is below minRecall 0.5",
        "label 'seven' (perLabel) is not a label of this model; labels: one, zero",
    )
    message = result.message("Model 'digits' on stack 'prod'")
    assert message.splitlines()[0] == (
        "Model 'digits' on stack 'prod' failed its acceptance gate (fixed 0.5 at threshold 0.5):"
    )


def test_a_model_meeting_everything_passes_with_its_operating_point():
    evals = _evaluations(zero=lambda t: (95, 1), one=lambda t: (90, 2))
    criteria = Criteria(policy="maximize", value=None, min_precision=0.7, min_recall=0.5)
    result = evaluate(evals, criteria)
    assert result.passed and result.failures == ()
    props = result.to_props()
    assert props["threshold"] == result.point.threshold
    assert set(props["perLabel"]) == {"zero", "one"}
    assert Criteria.from_props(criteria.to_props()) == criteria


def test_no_worse_than_published():
    evals = _evaluations()
    criteria = Criteria(policy="fixed", value=0.5, no_worse_than_published=True)
    better = Baseline("sha256:" + "a" * 64, au_prc=0.90, f1=0.5)
    worse = Baseline("sha256:" + "b" * 64, au_prc=0.99, f1=0.9)
    assert evaluate(evals, criteria, better).passed
    failures = evaluate(evals, criteria, worse).failures
    assert failures[0].startswith("AuPRC 0.950 is worse than the published model's 0.990")
    assert failures[1].startswith("F1 0.757 is worse than the published model's 0.900")
    assert evaluate(evals, criteria, None).passed  # nothing published yet: nothing to compare


# -- one check: the evaluations path and the record path ------------------------------------------
PUBLISHED = Baseline("sha256:" + "c" * 64, au_prc=0.99, f1=0.9)
SAME_CRITERIA = {
    "overall minima": (
        Criteria("fixed", 0.5, min_precision=0.99, min_recall=0.95, min_au_prc=0.97),
        None,
    ),
    "per label": (
        Criteria(
            "fixed",
            0.5,
            per_label=MappingProxyType(
                {
                    "one": LabelMinimum(min_precision=0.9, min_recall=0.5),
                    "seven": LabelMinimum(min_recall=0.1),
                    "zero": LabelMinimum(min_precision=0.9),
                }
            ),
        ),
        None,
    ),
    "no worse than published": (
        Criteria("fixed", 0.5, min_au_prc=0.9, no_worse_than_published=True),
        PUBLISHED,
    ),
    "all met": (Criteria("fixed", 0.5, min_precision=0.8, min_recall=0.7), PUBLISHED),
}


def _gated_record(evals, criteria):
    """A registry record of a model gated on another stack, as stored (JSON) and read back."""
    gate = evaluate(evals, criteria)
    assert gate.passed
    record = RegistryRecord(
        model="digits",
        stack="local",
        fingerprint="sha256:" + "d" * 64,
        dataset_fingerprint="sha256:" + "e" * 64,
        config={},
        cloud_model="projects/p/locations/l/models/m",
        stop_reason="budget",
        train_cost_milli_node_hours=0,
        gate={**gate.to_props(), "labels": sorted(evals.per_label)},
        labels=tuple(sorted(evals.per_label)),
        artifacts=(),
    )
    return RegistryRecord.from_json(json.loads(json.dumps(record.to_json())))


@pytest.mark.parametrize(("criteria", "baseline"), SAME_CRITERIA.values(), ids=SAME_CRITERIA)
def test_the_evaluations_and_a_record_are_checked_with_the_same_messages(criteria, baseline):
    evals = _evaluations(zero=lambda t: (95, 1), one=lambda t: (40, 30))
    # Gated where it was trained with no minima, at the threshold the criteria choose here too.
    record = _gated_record(evals, Criteria(criteria.policy, criteria.value))
    on_evaluations = evaluate(evals, criteria, baseline).failures
    on_record = check(Observed.from_props(record.gate), criteria, baseline)
    assert on_record == on_evaluations
    assert all(" is " in f for f in on_record)  # observed vs required, in every message
    assert (on_record == ()) == (criteria.min_precision == 0.8)


def test_a_record_reads_back_what_the_gate_observed():
    evals = _evaluations(zero=lambda t: (95, 1), one=lambda t: (40, 30))
    result = evaluate(evals, Criteria("maximize", None))
    record = _gated_record(evals, Criteria("maximize", None))
    assert Observed.from_props(record.gate) == result.observed
    assert set(result.observed.per_label) == {"zero", "one"}


# A record's `gate` as ModelExport has written it since the first version (the gate's outputs).
OLD_RECORD_GATE = {
    "passed": True,
    "policy": "precisionAtLeast 0.8",
    "threshold": 0.45,
    "measuredAt": 0.45,
    "precision": 0.8125,
    "recall": 0.65,
    "f1": 0.7222222222222222,
    "auPrc": 0.93,
    "perLabel": {
        "one": {"precision": 0.5, "recall": 0.35, "f1": 0.4117647, "au_prc": 0.81},
        "zero": {"precision": 0.9895833, "recall": 0.95, "f1": 0.9693878, "au_prc": 0.99},
    },
    "failures": [],
    "labels": ["one", "zero"],
}


def test_a_record_of_an_older_version_is_read_and_checked():
    observed = Observed.from_props(OLD_RECORD_GATE)
    assert observed == Observed(
        threshold=0.45,
        precision=0.8125,
        recall=0.65,
        f1=0.7222222222222222,
        au_prc=0.93,
        per_label=MappingProxyType(
            {
                "one": LabelMetrics(0.5, 0.35, 0.4117647, 0.81),
                "zero": LabelMetrics(0.9895833, 0.95, 0.9693878, 0.99),
            }
        ),
    )
    strict = Criteria(
        "maximize",
        None,
        min_precision=0.9,
        per_label=MappingProxyType({"one": LabelMinimum(min_recall=0.5)}),
    )
    assert check(observed, strict) == (
        "precision 0.812 is below minPrecision 0.9",
        "label 'one': recall 0.350 is below minRecall 0.5",
    )


def test_a_metric_a_record_lacks_meets_no_minimum():
    gate = {k: v for k, v in OLD_RECORD_GATE.items() if k not in ("recall", "f1")}
    criteria = Criteria("fixed", 0.5, min_recall=0.1, no_worse_than_published=True)
    assert check(Observed.from_props(gate), criteria, PUBLISHED) == (
        "recall (not recorded) is below minRecall 0.1",
        "AuPRC 0.930 is worse than the published model's 0.990 "
        "(noWorseThan: published, sha256:cccccccccccc…)",
        "F1 (not recorded) is worse than the published model's 0.900 "
        "(noWorseThan: published, sha256:cccccccccccc…)",
    )


def test_without_a_threshold_only_au_prc_is_checked():
    flat = _evaluation(shape=lambda t: (50, 10))  # precision 0.833 at every threshold
    evals = Evaluations(flat, MappingProxyType({"zero": flat}))
    criteria = Criteria(
        "precisionAtLeast",
        0.999,
        min_precision=0.5,
        min_au_prc=0.97,
        per_label=MappingProxyType({"seven": LabelMinimum(min_recall=0.1)}),
        no_worse_than_published=True,
    )
    result = evaluate(evals, criteria, PUBLISHED)
    assert result.point is None and result.observed.threshold is None
    assert [f.split(" ", 1)[0] for f in result.failures] == ["threshold", "AuPRC", "AuPRC"]
    assert result.failures[0].startswith("threshold (precisionAtLeast 0.999): no threshold")
    assert result.to_props()["perLabel"] == {} and result.to_props()["threshold"] is None
