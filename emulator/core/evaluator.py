"""Evaluates the exported TF Lite model on the TEST split, in AutoML v1's metrics form.

The dataclasses mirror `google.cloud.automl_v1.ClassificationEvaluationMetrics` and
`ModelEvaluation` field for field, so the facade only copies values.

Definitions (documented here because the API's own text is brief):
- Scores: one per (example, label) pair, from the exported model (softmax or sigmoid).
- At a confidence threshold t, a pair is *predicted* when its score ≥ t. Over all pairs:
  TP = predicted and in the ground truth, FP = predicted and not, FN = in the ground truth
  and not predicted, TN = neither. Overall metrics micro-average over every (example, label)
  pair; per-label metrics use that label's column only (one-vs-rest).
  precision = TP / (TP + FP) (1.0 when nothing is predicted: no prediction, no mistake),
  recall = TP / (TP + FN) (0.0 when there are no positives), false_positive_rate =
  FP / (FP + TN) (0.0 without negatives), f1 = 2·P·R / (P + R) (0.0 when P + R = 0).
  The `*_count` fields are these TP/FP/FN/TN, so precision and recall can be recomputed.
- `_at1` variants predict only each example's top-scoring label, and only if its score ≥ t
  (per label: the label is predicted when it is the example's top label and scores ≥ t).
- Thresholds: 0.00, 0.05, …, 0.95 then 0.96, 0.97, 0.98, 0.99 (the API's list; it has no
  1.0), each with position_threshold = INT32_MAX as the API reports.
- au_prc: average precision over the pairs ranked by score (Σ (Rₙ − Rₙ₋₁)·Pₙ at each distinct
  score, as scikit-learn computes it), from the exact scores rather than the 24 thresholds.
  au_roc: area under the ROC curve (trapezoids over distinct scores). Both 0.0 when a column
  has no positives (or, for au_roc, no negatives), where they are undefined.
- log_loss: multiclass overall = mean −ln p(true label) over examples; multilabel overall and
  every per-label evaluation = mean binary cross-entropy over the pairs concerned.
  Probabilities are clipped to [1e-15, 1 − 1e-15].
- confusion_matrix: overall multiclass evaluation only, when there are ≤ 10 labels; row i,
  column j counts TEST examples of label i whose top-scoring label is j.
- evaluated_example_count: all TEST examples overall; per label, those whose ground truth has
  the label.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from emulator.core.predictor import Predictor
from emulator.core.trainer import Example, Split

INT32_MAX = 2**31 - 1
CONFIDENCE_THRESHOLDS: tuple[float, ...] = tuple(
    [round(i * 0.05, 2) for i in range(20)] + [0.96, 0.97, 0.98, 0.99]
)
CONFUSION_MATRIX_MAX_LABELS = 10
_EPS = 1e-15


class EvaluationError(ValueError):
    """Evaluation input that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class ConfidenceMetricsEntry:
    confidence_threshold: float
    position_threshold: int
    recall: float
    precision: float
    false_positive_rate: float
    f1_score: float
    recall_at1: float
    precision_at1: float
    false_positive_rate_at1: float
    f1_score_at1: float
    true_positive_count: int
    false_positive_count: int
    false_negative_count: int
    true_negative_count: int


@dataclass(frozen=True)
class ConfusionMatrix:
    annotation_spec_id: tuple[str, ...]
    display_name: tuple[str, ...]
    row: tuple[tuple[int, ...], ...]  # row[i][j]: truth i predicted as j


@dataclass(frozen=True)
class ClassificationEvaluationMetrics:
    au_prc: float
    au_roc: float
    log_loss: float
    confidence_metrics_entry: tuple[ConfidenceMetricsEntry, ...]
    confusion_matrix: ConfusionMatrix | None
    annotation_spec_id: tuple[str, ...]

    def at(self, threshold: float) -> ConfidenceMetricsEntry:
        """The entry at a confidence threshold of the API's list."""
        for entry in self.confidence_metrics_entry:
            if abs(entry.confidence_threshold - threshold) < 1e-9:
                return entry
        raise KeyError(threshold)


@dataclass(frozen=True)
class ModelEvaluation:
    annotation_spec_id: str  # "" for the overall evaluation
    display_name: str  # "" for the overall evaluation
    evaluated_example_count: int
    classification_evaluation_metrics: ClassificationEvaluationMetrics


def evaluate_model(
    model_dir: Path,
    examples: Sequence[Example],
    annotation_spec_ids: Sequence[str] | None = None,
) -> tuple[ModelEvaluation, ...]:
    """Runs the model's `model.tflite` on the TEST examples; overall evaluation first.

    Labels, their order and multilabel-ness come from the model directory; examples of other
    splits are ignored. `annotation_spec_ids` (same order as the labels) default to the labels.
    """
    predictor = Predictor(Path(model_dir))
    test = [example for example in examples if Split(example.split) == Split.TEST]
    if not test:
        raise EvaluationError("no TEST examples; at least 1 is needed to evaluate a model")
    index = {label: i for i, label in enumerate(predictor.labels)}
    truth = np.zeros((len(test), len(predictor.labels)), bool)
    for n, example in enumerate(test):
        for label in example.labels:
            if label not in index:
                raise EvaluationError(
                    f"TEST example {n}: label {label!r} is not one of the model's labels "
                    f"{list(predictor.labels)}"
                )
            truth[n, index[label]] = True
    scores = predictor.scores_batch([example.data for example in test])
    return compute_evaluations(
        scores, truth, predictor.labels, predictor.multilabel, annotation_spec_ids
    )


def compute_evaluations(
    scores: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    multilabel: bool,
    annotation_spec_ids: Sequence[str] | None = None,
) -> tuple[ModelEvaluation, ...]:
    """Overall and per-label evaluations of scores [N, K] against boolean truth [N, K]."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, bool)
    if scores.shape != truth.shape or scores.ndim != 2 or scores.shape[1] != len(labels):
        raise EvaluationError(
            f"scores {scores.shape} and truth {truth.shape} must both be [examples, "
            f"{len(labels)} labels]"
        )
    ids = tuple(annotation_spec_ids) if annotation_spec_ids is not None else tuple(labels)
    if len(ids) != len(labels):
        raise EvaluationError(f"{len(ids)} annotation spec ids for {len(labels)} labels")
    n, k = scores.shape
    top = np.argmax(scores, axis=1)
    top1 = np.zeros_like(truth)
    top1[np.arange(n), top] = True

    # Binary cross-entropy terms of the pairs: a multilabel evaluation's overall loss is their
    # mean, and its labels' losses take their columns of it; a multiclass one's labels compute
    # their own (on the pool below).
    pair_loss = _pair_loss(scores, truth) if multilabel else None
    if pair_loss is not None:
        overall_loss = _mean_loss(pair_loss.ravel())
    else:
        p_true = np.clip(scores[truth], _EPS, 1.0)
        overall_loss = float(-np.mean(np.log(p_true))) if p_true.size else 0.0
    confusion = None
    if not multilabel and k <= CONFUSION_MATRIX_MAX_LABELS:
        labelled = truth.any(axis=1)
        cells = np.argmax(truth, axis=1)[labelled] * k + top[labelled]
        rows = np.bincount(cells, minlength=k * k).reshape(k, k)
        confusion = ConfusionMatrix(ids, tuple(labels), tuple(tuple(map(int, r)) for r in rows))

    def label_evaluation(c: int, ranked: _Ranked) -> ModelEvaluation:
        terms = pair_loss[:, c] if pair_loss is not None else _pair_loss(scores[:, c], truth[:, c])
        loss = _mean_loss(terms)
        return ModelEvaluation(
            annotation_spec_id=ids[c],
            display_name=labels[c],
            evaluated_example_count=ranked.positives,
            classification_evaluation_metrics=ranked.metrics(loss, None, (ids[c],)),
        )

    # On every core (NumPy's sorts and searches release the GIL): the labels' columns sorted,
    # then their sorted scores merged for the overall evaluation while the labels' metrics are
    # computed. The same results whatever the threads.
    with ThreadPoolExecutor(max_workers=max(1, min(k, os.cpu_count() or 1))) as pool:
        columns = list(pool.map(_Ranked.of, scores.T, truth.T, top1.T))
        merging = pool.submit(_Ranked.merged, columns)
        per_label = list(pool.map(label_evaluation, range(k), columns))
        ranked = merging.result()
    overall = ModelEvaluation(
        annotation_spec_id="",
        display_name="",
        evaluated_example_count=n,
        classification_evaluation_metrics=ranked.metrics(overall_loss, confusion, ids),
    )
    return (overall, *per_label)


class _Ranked:
    """The scores of one evaluation sorted once (and those of its positives, its top-1 pairs
    and its top-1 positives): every count "pairs scoring ≥ t" is a binary search in them, for
    the thresholds and for the PR and ROC curves alike, instead of a pass over the pairs."""

    def __init__(
        self, scores: np.ndarray, positive: np.ndarray, top1: np.ndarray, top1_positive: np.ndarray
    ) -> None:
        """Each array sorted ascending: all scores, and those of the positives, of the top-1
        pairs and of the top-1 positives."""
        self.size = scores.size
        self._scores, self._positive = scores, positive
        self._top1, self._top1_positive = top1, top1_positive
        self.positives = self._positive.size
        self.negatives = self.size - self.positives

    @classmethod
    def of(cls, scores: np.ndarray, truth: np.ndarray, top1: np.ndarray) -> "_Ranked":
        """The pairs of one column (scores, whether each is in the truth, whether top-1)."""
        return cls(
            np.sort(scores),
            np.sort(scores[truth]),
            np.sort(scores[top1]),
            np.sort(scores[top1 & truth]),
        )

    @classmethod
    def merged(cls, parts: Sequence["_Ranked"]) -> "_Ranked":
        """Every pair of several columns: their sorted arrays merged — a stable sort (timsort)
        of sorted runs merges them (2.5-3× faster than sorting the pairs again), with the same
        result."""

        def merge(arrays: list[np.ndarray]) -> np.ndarray:
            if not arrays:
                return np.zeros(0)
            return np.sort(np.concatenate(arrays), kind="stable")

        kinds = ("_scores", "_positive", "_top1", "_top1_positive")
        return cls(*(merge([getattr(p, kind) for p in parts]) for kind in kinds))

    def metrics(
        self, log_loss: float, confusion: ConfusionMatrix | None, ids: tuple[str, ...]
    ) -> "ClassificationEvaluationMetrics":
        return ClassificationEvaluationMetrics(
            au_prc=self.average_precision(),
            au_roc=self.roc_auc(),
            log_loss=log_loss,
            confidence_metrics_entry=self.entries(),
            confusion_matrix=confusion,
            annotation_spec_id=ids,
        )

    @cached_property
    def _curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (TP, FP) scoring ≥ each distinct score, highest score first."""
        ascending = self._scores
        new_run = np.empty(self.size, bool)  # where a run of equal scores starts
        new_run[:1] = True
        np.not_equal(ascending[1:], ascending[:-1], out=new_run[1:])
        run_starts = np.flatnonzero(new_run)
        distinct = ascending[run_starts]
        # Each positive falls in the run of its score: positives per run, then cumulated
        # from the highest score down (a search per positive, not per distinct score).
        in_run = np.searchsorted(distinct, self._positive, side="left")
        tp = np.cumsum(np.bincount(in_run, minlength=run_starts.size)[::-1])
        fp = (self.size - run_starts)[::-1] - tp
        return tp, fp

    def entries(self) -> tuple[ConfidenceMetricsEntry, ...]:
        thresholds = np.asarray(CONFIDENCE_THRESHOLDS)
        counts = zip(
            *(
                _at_least(ranked, thresholds).tolist()
                for ranked in (self._scores, self._positive, self._top1, self._top1_positive)
            ),
            strict=True,
        )
        entries = []
        for t, (predicted, tp, predicted1, tp1) in zip(CONFIDENCE_THRESHOLDS, counts, strict=True):
            fp, fp1 = predicted - tp, predicted1 - tp1
            precision, recall, fpr = _rates(tp, fp, self.positives, self.negatives)
            precision1, recall1, fpr1 = _rates(tp1, fp1, self.positives, self.negatives)
            entries.append(
                ConfidenceMetricsEntry(
                    confidence_threshold=t,
                    position_threshold=INT32_MAX,
                    recall=recall,
                    precision=precision,
                    false_positive_rate=fpr,
                    f1_score=_f1(precision, recall),
                    recall_at1=recall1,
                    precision_at1=precision1,
                    false_positive_rate_at1=fpr1,
                    f1_score_at1=_f1(precision1, recall1),
                    true_positive_count=tp,
                    false_positive_count=fp,
                    false_negative_count=self.positives - tp,
                    true_negative_count=self.negatives - fp,
                )
            )
        return tuple(entries)

    def average_precision(self) -> float:
        if self.positives == 0:
            return 0.0
        tp, fp = self._curve
        precision = tp / (tp + fp)
        recall = tp / self.positives
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

    def roc_auc(self) -> float:
        if self.positives == 0 or self.negatives == 0:
            return 0.0
        tp, fp = self._curve
        tpr = np.r_[0.0, tp / self.positives]
        fpr = np.r_[0.0, fp / self.negatives]
        return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _at_least(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many of the sorted `ascending` are ≥ each of `values`."""
    return ascending.size - np.searchsorted(ascending, values, side="left")


def _rates(tp: int, fp: int, positives: int, negatives: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 0.0
    fpr = fp / negatives if negatives else 0.0
    return precision, recall, fpr


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _pair_loss(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Binary cross-entropy terms of pairs (probabilities clipped to [ε, 1 − ε]): ln p where
    the pair is in the truth, ln(1 − p) where not."""
    clipped = np.clip(scores, _EPS, 1 - _EPS)
    terms = np.log1p(-clipped)
    terms[truth] = np.log(clipped[truth])
    return terms


def _mean_loss(pair_loss: np.ndarray) -> float:
    """Mean binary cross-entropy of the pairs' terms (0.0 without pairs)."""
    if pair_loss.size == 0:
        return 0.0
    return float(-np.mean(np.ascontiguousarray(pair_loss)))
