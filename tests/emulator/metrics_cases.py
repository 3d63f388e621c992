"""Seeded score/truth matrices for the metrics tests: ties, scores on the thresholds, a label
without positives, multilabel, a single example. `golden` holds what the evaluator returned for
each case before it sorted once per label (commit 6115fe3, one pass per threshold), and
test_engine_metrics.py checks that today's evaluator returns exactly the same."""

import numpy as np

LABELS = ("cat", "dog", "fox", "owl")


def metrics_cases() -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """name → (scores [N, K], truth [N, K], multilabel)."""
    cases = {}
    rng = np.random.default_rng(11)
    for name, n, quantum in (("fine", 300, 0.0), ("ties", 400, 0.05), ("coarse", 200, 0.25)):
        logits = rng.normal(0, 1, (n, len(LABELS)))
        idx = rng.integers(0, len(LABELS), n)
        logits[np.arange(n), idx] += 1.0
        scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        if quantum:  # many equal scores, many exactly on a threshold
            scores = np.round(scores / quantum) * quantum
        truth = np.zeros_like(scores, bool)
        truth[np.arange(n), idx] = True
        cases[f"multiclass-{name}"] = (scores, truth, False)
    scores = np.round(rng.random((250, len(LABELS))) * 20) / 20
    truth = rng.random((250, len(LABELS))) < 0.3
    truth[:, 3] = False  # a label nobody has
    cases["multilabel-ties"] = (scores, truth, True)
    cases["one-example"] = (np.array([[0.5, 0.2, 0.2, 0.1]]), np.array([[0, 1, 0, 0]], bool), False)
    return cases
