"""Evaluation metrics, budget arithmetic, schedule, early stopping and config validation of the
training engine (no TensorFlow graph is run here)."""

import itertools
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from emulator.core.evaluator import CONFIDENCE_THRESHOLDS, INT32_MAX, compute_evaluations
from emulator.core.trainer import (
    EPOCHS_PER_NODE_HOUR_ENV,
    SECONDS_PER_NODE_HOUR_ENV,
    BudgetTooSmall,
    TrainingConfig,
    TrainingError,
    remove_partial_outputs,
    seconds_per_node_hour,
    train_cost_milli_node_hours,
    validate_config,
)
from emulator.core.training.augment import mirror_keeps_labels
from emulator.core.training.budget import Budget, BudgetClock, epochs_per_node_hour
from emulator.core.training.stopping import EarlyStopping, Schedule
from tests.emulator.metrics_cases import LABELS as METRICS_LABELS
from tests.emulator.metrics_cases import metrics_cases

LABELS = ("cat", "dog", "fox")


def _multiclass(n: int = 60, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth_idx = rng.integers(0, len(LABELS), n)
    logits = rng.normal(0, 1, (n, len(LABELS)))
    logits[np.arange(n), truth_idx] += 1.5  # a model better than chance, with mistakes
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.zeros_like(scores, bool)
    truth[np.arange(n), truth_idx] = True
    return scores, truth


def test_thresholds_are_the_apis_list():
    assert CONFIDENCE_THRESHOLDS[:3] == (0.0, 0.05, 0.1)
    assert CONFIDENCE_THRESHOLDS[19:] == (0.95, 0.96, 0.97, 0.98, 0.99)
    assert len(CONFIDENCE_THRESHOLDS) == 24 and 1.0 not in CONFIDENCE_THRESHOLDS


def test_precision_and_recall_recompute_from_counts_overall_and_per_label():
    scores, truth = _multiclass()
    evaluations = compute_evaluations(scores, truth, LABELS, multilabel=False)
    assert [e.display_name for e in evaluations] == ["", *LABELS]
    for evaluation in evaluations:
        metrics = evaluation.classification_evaluation_metrics
        assert [e.confidence_threshold for e in metrics.confidence_metrics_entry] == list(
            CONFIDENCE_THRESHOLDS
        )
        for entry in metrics.confidence_metrics_entry:
            tp, fp = entry.true_positive_count, entry.false_positive_count
            fn, tn = entry.false_negative_count, entry.true_negative_count
            assert entry.position_threshold == INT32_MAX
            assert entry.precision == pytest.approx(tp / (tp + fp) if tp + fp else 1.0)
            assert entry.recall == pytest.approx(tp / (tp + fn))
            assert entry.false_positive_rate == pytest.approx(fp / (fp + tn))
            p, r = entry.precision, entry.recall
            assert entry.f1_score == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)


def test_overall_counts_are_the_sum_of_per_label_counts():
    scores, truth = _multiclass()
    overall, *per_label = compute_evaluations(scores, truth, LABELS, multilabel=False)
    for i, entry in enumerate(overall.classification_evaluation_metrics.confidence_metrics_entry):
        label_entries = [e.classification_evaluation_metrics.confidence_metrics_entry[i]
                         for e in per_label]  # fmt: skip
        for field in ("true_positive", "false_positive", "false_negative", "true_negative"):
            name = f"{field}_count"
            assert getattr(entry, name) == sum(getattr(e, name) for e in label_entries)
    assert overall.evaluated_example_count == len(scores)
    assert [e.evaluated_example_count for e in per_label] == list(truth.sum(axis=0))


def test_micro_averaged_definitions_match_scikit_learn():
    scores, truth = _multiclass()
    overall, *per_label = compute_evaluations(scores, truth, LABELS, multilabel=False)
    metrics = overall.classification_evaluation_metrics
    assert metrics.au_prc == pytest.approx(average_precision_score(truth.ravel(), scores.ravel()))
    assert metrics.au_roc == pytest.approx(roc_auc_score(truth.ravel(), scores.ravel()))
    assert metrics.log_loss == pytest.approx(log_loss(truth.argmax(1), scores))
    for c, evaluation in enumerate(per_label):
        m = evaluation.classification_evaluation_metrics
        assert m.au_prc == pytest.approx(average_precision_score(truth[:, c], scores[:, c]))
        assert m.au_roc == pytest.approx(roc_auc_score(truth[:, c], scores[:, c]))
        assert m.log_loss == pytest.approx(log_loss(truth[:, c], scores[:, c], labels=[0, 1]))
        assert m.confusion_matrix is None and m.annotation_spec_id == (LABELS[c],)


def test_at1_and_confusion_matrix_use_the_top_label():
    scores, truth = _multiclass()
    top1 = float((scores.argmax(1) == truth.argmax(1)).mean())
    ids = ("101", "102", "103")
    overall = compute_evaluations(scores, truth, LABELS, False, annotation_spec_ids=ids)[0]
    metrics = overall.classification_evaluation_metrics
    at0 = metrics.at(0.0)
    assert at0.recall_at1 == pytest.approx(top1) and at0.precision_at1 == pytest.approx(top1)
    assert at0.recall == 1.0 and at0.precision == pytest.approx(1 / len(LABELS))
    matrix = metrics.confusion_matrix
    assert matrix.annotation_spec_id == ids and matrix.display_name == LABELS
    expected = np.zeros((3, 3), int)
    np.add.at(expected, (truth.argmax(1), scores.argmax(1)), 1)
    assert np.array_equal(np.array(matrix.row), expected)
    assert metrics.annotation_spec_id == ids


def test_multilabel_has_no_confusion_matrix_and_binary_log_loss():
    rng = np.random.default_rng(5)
    truth = rng.random((40, 3)) < 0.4
    scores = np.clip(truth * 0.6 + rng.random((40, 3)) * 0.5, 0, 1)
    overall, *per_label = compute_evaluations(scores, truth, LABELS, multilabel=True)
    metrics = overall.classification_evaluation_metrics
    assert metrics.confusion_matrix is None
    assert metrics.log_loss == pytest.approx(log_loss(truth.ravel(), scores.ravel()))
    assert [e.evaluated_example_count for e in per_label] == list(truth.sum(axis=0))


def test_confusion_matrix_only_up_to_ten_labels():
    labels = tuple(f"l{i}" for i in range(11))
    scores = np.full((11, 11), 1 / 11)
    truth = np.eye(11, dtype=bool)
    overall = compute_evaluations(scores, truth, labels, multilabel=False)[0]
    assert overall.classification_evaluation_metrics.confusion_matrix is None


def test_train_cost_rounds_up_to_whole_milli_node_hours_and_never_exceeds_budget():
    assert train_cost_milli_node_hours(0.001, 60.0, 1000) == 1
    assert train_cost_milli_node_hours(30.0, 60.0, 1000) == 500
    assert train_cost_milli_node_hours(30.01, 60.0, 1000) == 501
    assert train_cost_milli_node_hours(75.0, 60.0, 1000) == 1000


def test_seconds_per_node_hour_from_parameter_env_or_default(monkeypatch):
    monkeypatch.delenv(SECONDS_PER_NODE_HOUR_ENV, raising=False)
    assert seconds_per_node_hour() == 60.0
    monkeypatch.setenv(SECONDS_PER_NODE_HOUR_ENV, "12.5")
    assert seconds_per_node_hour() == 12.5
    assert seconds_per_node_hour(3) == 3.0
    monkeypatch.setenv(SECONDS_PER_NODE_HOUR_ENV, "fast")
    with pytest.raises(TrainingError, match=SECONDS_PER_NODE_HOUR_ENV):
        seconds_per_node_hour()
    with pytest.raises(TrainingError, match="positive"):
        seconds_per_node_hour(0)


@pytest.mark.parametrize(
    ("model_type", "budget", "message"),
    [
        ("mobile-low-latency-1", 999, "1,000–100,000"),
        ("mobile-versatile-1", 100_001, "1,000–100,000"),
        ("cloud", 7_999, "8,000–800,000"),
        ("mobile-tiny-1", 1_000, "allowed: mobile-low-latency-1"),
    ],
)
def test_invalid_budget_or_model_type_is_refused_with_the_allowed_values(
    model_type, budget, message
):
    config = TrainingConfig(labels=LABELS, model_type=model_type, budget_milli_node_hours=budget)
    with pytest.raises(TrainingError, match=message):
        validate_config(config)


def test_validate_accepts_the_apis_budget_bounds_and_resolves_defaults(monkeypatch):
    monkeypatch.setenv(SECONDS_PER_NODE_HOUR_ENV, "5")
    for model_type, budget in (("mobile-high-accuracy-1", 1_000), ("cloud", 800_000)):
        config = TrainingConfig(LABELS, model_type=model_type, budget_milli_node_hours=budget)
        assert validate_config(config).budget_milli_node_hours == budget
    # Unset budget: the API's default of one day (24 node hours mobile, 192 cloud).
    mobile = validate_config(TrainingConfig(LABELS, model_type="mobile-versatile-1"))
    assert mobile.budget_milli_node_hours == 24_000 and mobile.seconds_per_node_hour == 5.0
    assert validate_config(TrainingConfig(LABELS)).budget_milli_node_hours == 192_000


def test_partial_outputs_of_a_killed_process_are_removed(tmp_path):
    (tmp_path / ".model.tmp-1a2b3c4d" / "saved_model").mkdir(parents=True)
    (tmp_path / "model").mkdir()
    removed = remove_partial_outputs(tmp_path)
    assert [p.name for p in removed] == [".model.tmp-1a2b3c4d"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_an_epoch_budget_buys_whole_epochs_and_bills_their_share():
    budget = Budget(1_500, 60.0, epochs_per_node_hour=3)
    assert budget.counts_epochs and budget.epochs == 4  # 4.5 epochs: whole ones only
    clock = BudgetClock(budget)
    assert clock.cost_milli_node_hours() == 0 and not clock.exhausted()
    clock.epochs_done = 1
    assert clock.fraction() == 0.25
    assert clock.cost_milli_node_hours() == 375
    clock.epochs_done = 4
    assert clock.exhausted() and clock.cost_milli_node_hours() == 1_500


def test_a_wall_clock_budget_bills_only_the_time_inside_running():
    budget = Budget(1_000, 3_600.0)  # 1 node hour = 1 hour: a few milliseconds bill 1 unit
    assert not budget.counts_epochs and budget.epochs is None and budget.seconds == 3_600.0
    clock = BudgetClock(budget)
    assert clock.seconds == 0.0  # nothing runs: setup is not billed
    with clock.running():
        pass
    spent = clock.seconds
    assert 0.0 < spent == clock.seconds  # the clock stops when the block ends
    assert clock.cost_milli_node_hours() == 1 and not clock.exhausted()


def test_the_cost_is_billed_from_the_seconds_the_result_reports():
    """The result reported its training seconds rounded to the millisecond and the cost was
    computed from the unrounded clock: 0.48004 s at 60 s per node hour was reported as 0.48 s
    (8 milli node hours) and billed 9 (a fresh clone's run failed on it, 2026-12-03). Both now
    come from the seconds rounded up to the millisecond."""
    clock = BudgetClock(Budget(milli_node_hours=100_000, seconds_per_node_hour=60.0))
    clock._seconds = 0.48004  # what the timed epochs summed to
    assert clock.billed_seconds == 0.481
    assert clock.cost_milli_node_hours() == train_cost_milli_node_hours(0.481, 60.0, 100_000) == 9
    clock._seconds = 0.48
    assert (clock.billed_seconds, clock.cost_milli_node_hours()) == (0.48, 8)


def test_a_budget_that_buys_no_epoch_names_what_one_epoch_needs():
    Budget(1_000, 60.0, epochs_per_node_hour=1).require_an_epoch()
    Budget(1_000, 60.0).require_an_epoch()  # wall clock: known only once an epoch ran
    with pytest.raises(BudgetTooSmall, match=r"1,000 milli node hours \(0 epochs at 0.4 epochs"):
        Budget(1_000, 60.0, epochs_per_node_hour=0.4).require_an_epoch()
    with pytest.raises(BudgetTooSmall, match="one epoch needs 2,500 milli node hours"):
        Budget(1_000, 60.0, epochs_per_node_hour=0.4).require_an_epoch()
    error = Budget(1_000, 2.0).too_small(epoch_seconds=5.0, train_count=1_438)
    assert "the budget of 1,000 milli node hours (2 s of training at 2 s per node hour" in str(
        error
    )
    assert "one epoch of 1,438 TRAIN images needs about 5 s" in str(error)
    assert "≈ 2,500 milli node hours at this scale" in str(error)


def test_epochs_per_node_hour_accepts_zero_but_not_negative_or_words(monkeypatch):
    monkeypatch.delenv(EPOCHS_PER_NODE_HOUR_ENV, raising=False)
    assert epochs_per_node_hour() is None
    monkeypatch.setenv(EPOCHS_PER_NODE_HOUR_ENV, "0")
    assert epochs_per_node_hour() == 0.0  # a setting that buys no epoch: refused per training
    monkeypatch.setenv(EPOCHS_PER_NODE_HOUR_ENV, "-1")
    with pytest.raises(TrainingError, match="zero or a positive number of epochs"):
        epochs_per_node_hour()
    monkeypatch.setenv(EPOCHS_PER_NODE_HOUR_ENV, "many")
    with pytest.raises(TrainingError, match=EPOCHS_PER_NODE_HOUR_ENV):
        epochs_per_node_hour()


def test_schedule_warms_up_then_anneals_to_zero():
    schedule = Schedule(peak=0.01, horizon=1_000, warmup=0.1)
    rates = [schedule.rate(p / 100) for p in range(101)]
    assert rates[0] < rates[5] < rates[10] == pytest.approx(0.01)
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))
    assert rates[100] == pytest.approx(0.0, abs=1e-12)
    # Progress: the steps over the horizon, or over the steps the budget pays for when those
    # are fewer (unknown yet: the horizon alone).
    assert schedule.progress(steps=100) == 0.1
    assert schedule.progress(steps=100, reachable=2_000) == 0.1
    assert schedule.progress(steps=100, reachable=200) == 0.5
    assert schedule.progress(steps=5_000) == schedule.progress(steps=300, reachable=200) == 1.0


def test_early_stopping_keeps_the_best_epoch_and_waits_out_the_warm_up():
    stopping = EarlyStopping(patience=2, min_delta=0.01, warmup_steps=30)
    losses = [1.0, 0.5, 0.6, 0.495]  # 0.495 is not better by min_delta
    decisions = [
        stopping.observe(epoch, loss, steps=10 * epoch, weights=lambda e=epoch: [e])
        for epoch, loss in enumerate(losses, start=1)
    ]
    # Epoch 3 (30 steps) starts the count; epochs 3 and 4 without improvement: stop at 4.
    assert decisions == [False, False, False, True]
    assert stopping.best_epoch == 2 and stopping.best_weights == [2]


def test_mirroring_is_kept_only_when_mirrored_images_keep_their_labels():
    rng = np.random.default_rng(0)
    # Left-heavy versus right-heavy images: a mirror swaps the labels.
    sided = np.zeros((40, 16, 16, 3), np.uint8)
    sided[:20, :, :8] = 200
    sided[20:, :, 8:] = 200
    labels = np.repeat([0, 1], 20)
    assert not mirror_keeps_labels(sided + rng.integers(0, 20, sided.shape, np.uint8), labels)
    # Colour tells the labels apart, whatever the side: a mirror changes nothing.
    coloured = rng.integers(0, 60, (40, 16, 16, 3)).astype(np.uint8)
    coloured[:20, ..., 0] += 150
    coloured[20:, ..., 2] += 150
    assert mirror_keeps_labels(coloured, labels)
    assert not mirror_keeps_labels(coloured, np.zeros(40))  # one label: nothing to learn from


def test_sorting_once_per_label_returns_what_a_pass_per_threshold_returned():
    """Every field of every evaluation equals, to the bit, what the evaluator returned when it
    compared all pairs with each threshold and sorted twice per curve (data/metrics_golden.json,
    written by that implementation): ties, scores on the thresholds, a label without
    positives, multilabel, one example."""
    golden = json.loads((Path(__file__).parent / "data" / "metrics_golden.json").read_text())
    cases = metrics_cases()
    assert set(cases) == set(golden)
    for name, (scores, truth, multilabel) in cases.items():
        now = [asdict(e) for e in compute_evaluations(scores, truth, METRICS_LABELS, multilabel)]
        assert json.loads(json.dumps(now)) == golden[name], name
