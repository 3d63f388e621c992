"""Threshold policies and the acceptance gate on hand-built evaluations."""

from types import MappingProxyType

import pytest

from components.cloud.training import ConfidencePoint, Evaluation, Evaluations
from components.evaluation.gate import Baseline, Criteria, LabelMinimum, evaluate
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
