"""The Evaluate page: a model's metrics at any threshold, from the evaluation it was gated on.

A rehearsal keeps, per trained model, the evaluation the gate read (`DIR/<model>/
evaluation.json`) and the exported TF Lite files. Precision, recall and F1 at a threshold come
from that evaluation through the gate's own code (threshold.point_at, gate.Observed, gate.check),
so the page shows the numbers the gate would see: the service's metrics at the greatest
evaluated threshold not above the one asked for. The confusion matrix at the threshold and the
false positives and negatives need each TEST image's scores, which the evaluation does not
keep: the exported model is run on the TEST split with the prediction core of `edgectl
predict` (once per model), and its counts are checked against the evaluation's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from components.evaluation.gate import Criteria, GateResult, Observed, check, evaluate
from components.evaluation.metrics import (
    KEPT_EVALUATION_FILE,
    Evaluations,
    evaluations_from_json,
)
from components.evaluation.threshold import OperatingPoint, point_at
from components.studio.datasets import DatasetView, StudioError

BELOW = "(below threshold)"  # the confusion matrix's column for images with no label at it


@dataclass(frozen=True)
class TestScores:
    """Each TEST image's scores from the exported model (labels in the model's order)."""

    names: tuple[str, ...]
    truth: tuple[tuple[str, ...], ...]
    scores: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]


@dataclass
class KeptModel:
    """A trained model as a rehearsal kept it."""

    name: str
    directory: Path
    dataset: str
    dataset_fingerprint: str | None
    fingerprint: str | None
    labels: tuple[str, ...]  # the dataset's order
    criteria: Criteria
    evaluations: Evaluations
    model_file: Path | None
    _scores: TestScores | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _predictor: Any = field(default=None, repr=False)
    _predictor_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def gate(self) -> GateResult:
        """The gate's decision with the model's own acceptance (policy, threshold, verdict)."""
        return evaluate(self.evaluations, self.criteria)

    def ordered(self, labels: Sequence[str]) -> list[str]:
        return [
            *(x for x in self.labels if x in labels),
            *(x for x in labels if x not in self.labels),
        ]

    def at(self, threshold: float) -> dict[str, Any]:
        """Overall and per-label precision, recall, F1 at `threshold` (the evaluation's, via
        the gate's code), and what the gate's minima say of them."""
        if not 0.0 <= threshold <= 1.0:
            raise StudioError(f"threshold {threshold}: a score from 0 to 1 is allowed")
        point = OperatingPoint.at(threshold, point_at(self.evaluations.overall, threshold))
        observed = Observed.at(self.evaluations, point)
        fixed = replace(self.criteria, policy="fixed", value=threshold)
        failures = check(observed, fixed)
        per_label = []
        for label in self.ordered(list(observed.per_label)):
            m = observed.per_label[label]
            p = point_at(self.evaluations.per_label[label], threshold)
            per_label.append(
                {
                    "label": label,
                    "precision": m.precision,
                    "recall": m.recall,
                    "f1": m.f1,
                    "auPrc": m.au_prc,
                    "truePositives": p.true_positives,
                    "falsePositives": p.false_positives,
                    "falseNegatives": p.false_negatives,
                }
            )
        overall = point_at(self.evaluations.overall, threshold)
        return {
            "threshold": threshold,
            "measuredAt": point.measured_at,
            "precision": observed.precision,
            "recall": observed.recall,
            "f1": observed.f1,
            "auPrc": observed.au_prc,
            "truePositives": overall.true_positives,
            "falsePositives": overall.false_positives,
            "falseNegatives": overall.false_negatives,
            "perLabel": per_label,
            "minimaAtThreshold": {"passed": not failures, "failures": list(failures)},
        }

    def summary(self) -> dict[str, Any]:
        gate = self.gate
        return {
            "name": self.name,
            "dataset": self.dataset,
            "fingerprint": self.fingerprint,
            "labels": list(self.labels),
            "policy": gate.policy,
            "gate": {
                "passed": gate.passed,
                "policy": gate.policy,
                "threshold": gate.point.threshold if gate.point else None,
                "failures": list(gate.failures),
            },
            "points": [p.threshold for p in self.evaluations.overall.points],
            "curve": [
                {"threshold": p.threshold, "precision": p.precision, "recall": p.recall}
                for p in self.evaluations.overall.points
            ],
            "minima": {
                "minPrecision": self.criteria.min_precision,
                "minRecall": self.criteria.min_recall,
                "minAuPrc": self.criteria.min_au_prc,
            },
            "canPredict": self.model_file is not None,
        }

    # -- per-image views, from the exported model's scores ------------------------------------

    def predictor(self) -> Any:
        """The exported model, loaded (once) by the prediction core of `edgectl predict`."""
        from components.predict import Predictor  # LiteRT and numpy: only when asked

        if self.model_file is None:
            raise StudioError(f"model '{self.name}': the rehearsal kept no TF Lite export")
        with self._predictor_lock:
            if self._predictor is None:
                self._predictor = Predictor.from_file(self.model_file)
            return self._predictor

    def test_scores(self, dataset: DatasetView) -> TestScores:
        """Every TEST image's scores (computed once)."""
        with self._lock:
            if self._scores is None:
                predictor = self.predictor()
                # Each content once, as the import (and so the evaluation) holds it.
                by_sha = {i.sha256: i for i in reversed(dataset.images) if i.split == "TEST"}
                unique = [i for i in dataset.images if i.sha256 and by_sha.get(i.sha256) is i]
                self._scores = TestScores(
                    tuple(i.name for i in unique),
                    tuple(i.labels for i in unique),
                    tuple(
                        tuple(float(s) for s in predictor.scores(dataset.read(i.name)))
                        for i in unique
                    ),
                    tuple(predictor.labels),
                )
            return self._scores

    def images_at(self, dataset: DatasetView, threshold: float) -> dict[str, Any]:
        """The confusion matrix at `threshold`, false positives and negatives, and the TEST
        split's counts recomputed from the scores at the evaluation's point (which must be
        the evaluation's own)."""
        scores = self.test_scores(dataset)
        labels = self.ordered(scores.labels)
        measured = point_at(self.evaluations.overall, threshold)
        matrix = {t: dict.fromkeys([*labels, BELOW], 0) for t in labels}
        false_pos: list[dict[str, Any]] = []
        false_neg: list[dict[str, Any]] = []
        counts = {"truePositives": 0, "falsePositives": 0, "falseNegatives": 0}
        for name, truth, row in zip(scores.names, scores.truth, scores.scores, strict=True):
            by_label = dict(zip(scores.labels, row, strict=True))
            top = max(scores.labels, key=lambda lab: by_label[lab])
            predicted = [lab for lab in labels if by_label[lab] >= threshold]
            for t in truth:
                if t in matrix:
                    matrix[t][top if by_label[top] >= threshold else BELOW] += 1
            shown = [[lab, round(by_label[lab], 4)] for lab in predicted]
            misses = [lab for lab in truth if lab not in predicted]
            for lab, found in [*((x, false_pos) for x in predicted if x not in truth),
                               *((x, false_neg) for x in misses)]:  # fmt: skip
                found.append(
                    {
                        "name": name,
                        "label": lab,
                        "truth": list(truth),
                        "score": by_label.get(lab, 0.0),
                        "predicted": shown,
                    }
                )
            for lab in scores.labels:
                hit = by_label[lab] >= measured.threshold
                if hit and lab in truth:
                    counts["truePositives"] += 1
                elif hit:
                    counts["falsePositives"] += 1
                elif lab in truth:
                    counts["falseNegatives"] += 1
        evaluated = {
            "truePositives": measured.true_positives,
            "falsePositives": measured.false_positives,
            "falseNegatives": measured.false_negatives,
        }
        return {
            "threshold": threshold,
            "labels": labels,
            "columns": [*labels, BELOW],
            "matrix": [[matrix[t][c] for c in [*labels, BELOW]] for t in labels],
            "falsePositives": sorted(false_pos, key=lambda x: -x["score"]),
            "falseNegatives": sorted(false_neg, key=lambda x: x["score"]),
            "check": {
                "measuredAt": measured.threshold,
                "fromScores": counts,
                "fromEvaluation": evaluated,
                "agree": counts == evaluated,
            },
        }


def load_kept(directory: Path) -> KeptModel:
    """A model a rehearsal kept in `directory` (DIR/<model>/)."""
    path = directory / KEPT_EVALUATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model_file = directory / "model.tflite"
        return KeptModel(
            name=str(data["model"]),
            directory=directory,
            dataset=str(data["dataset"]),
            dataset_fingerprint=data.get("datasetFingerprint"),
            fingerprint=data.get("fingerprint"),
            labels=tuple(data.get("labels") or ()),
            criteria=Criteria.from_props(data["criteria"]),
            evaluations=evaluations_from_json(data["evaluations"]),
            model_file=model_file if model_file.is_file() else None,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudioError(f"{path}: not an evaluation kept by `edgectl rehearse` ({exc})") from None


def kept_models(rehearsal: Path) -> dict[str, KeptModel]:
    """Every model a rehearsal kept in `rehearsal` (`edgectl rehearse --out DIR`), by name."""
    found = {}
    for path in sorted(rehearsal.glob(f"*/{KEPT_EVALUATION_FILE}")):
        model = load_kept(path.parent)
        found[model.name] = model
    return found


def rehearsal_stack(rehearsal: Path) -> str | None:
    """The stack a rehearsal ran (what its kept evaluations say), or None."""
    for path in sorted(rehearsal.glob(f"*/{KEPT_EVALUATION_FILE}")):
        try:
            stack = json.loads(path.read_text(encoding="utf-8")).get("stack")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(stack, str):
            return stack
    return None
