"""Evaluation metrics, budget arithmetic and config validation of the training engine (no TF)."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from emulator.core.evaluator import CONFIDENCE_THRESHOLDS, INT32_MAX, compute_evaluations
from emulator.core.trainer import (
    SECONDS_PER_NODE_HOUR_ENV,
    Augmentation,
    TrainingConfig,
    TrainingError,
    augmented_epoch,
    remove_partial_outputs,
    seconds_per_node_hour,
    train_cost_milli_node_hours,
    validate_config,
)
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


def test_augmentation_is_seeded_and_does_not_mirror_by_default():
    rng_images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(8)
    a, ya = augmented_epoch(rng_images, labels, Augmentation(), np.random.default_rng(1))
    b, yb = augmented_epoch(rng_images, labels, Augmentation(), np.random.default_rng(1))
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    # Without shift, brightness and contrast, the default leaves images as they are (no flip).
    plain = Augmentation(max_shift=0.0, brightness=0.0, contrast=0.0)
    c, yc = augmented_epoch(rng_images, labels, plain, np.random.default_rng(1))
    assert np.array_equal(c, rng_images[yc].astype(np.float32))
    flipped = Augmentation(horizontal_flip=True, max_shift=0.0, brightness=0.0, contrast=0.0)
    d, yd = augmented_epoch(rng_images, labels, flipped, np.random.default_rng(1))
    mirrored = [np.array_equal(d[i], rng_images[yd[i], :, ::-1]) for i in range(8)]
    assert any(mirrored) and not all(mirrored)


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
