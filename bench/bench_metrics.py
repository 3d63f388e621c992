"""Benchmark: the evaluator's metrics for 100,000 TEST examples × 10 labels.

Issue [4/8]: `compute_evaluations` ≥ 5× faster than scikit-learn on the same data. The
baseline is what scikit-learn needs for the curves the evaluator reports: average precision
and the precision/recall curve, overall (every example × label pair) and per label. Both on
the same seeded softmax scores; median of 3 each. Prints BENCH_ROW lines (bench/table.py).
"""

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import row
from emulator.core.evaluator import compute_evaluations

EXAMPLES, LABELS = 100_000, 10


def median_seconds(run: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    rng = np.random.default_rng(0)
    truth_idx = rng.integers(0, LABELS, EXAMPLES)
    logits = rng.normal(0, 1, (EXAMPLES, LABELS))
    logits[np.arange(EXAMPLES), truth_idx] += 1.5
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.zeros_like(scores, bool)
    truth[np.arange(EXAMPLES), truth_idx] = True
    labels = [f"label-{i}" for i in range(LABELS)]

    def scikit_learn() -> None:
        columns = [(truth.ravel(), scores.ravel())] + [
            (truth[:, c], scores[:, c]) for c in range(LABELS)
        ]
        for y, p in columns:
            average_precision_score(y, p)
            precision_recall_curve(y, p)

    ours = median_seconds(lambda: compute_evaluations(scores, truth, labels, multilabel=False))
    baseline = median_seconds(scikit_learn)
    row(
        f"metrics, {EXAMPLES:,} × {LABELS} (compute_evaluations)",
        ours,
        "s",
        baseline=baseline,
        baseline_of="scikit-learn AP + PR curve",
        target="≥ 5× faster (ratio ≤ 0.2x)",
        met=ours * 5 <= baseline,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
