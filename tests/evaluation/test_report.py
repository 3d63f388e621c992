"""The report's plots say what they show: axes named, labels in the dataset's order."""

from __future__ import annotations

from components.evaluation.metrics import ConfidencePoint, Evaluation
from components.evaluation.report import confusion_figure, precision_recall_figure


def _evaluation() -> Evaluation:
    points = tuple(
        ConfidencePoint(t, 0.9, 0.8, 0.85, 0.9, 0.8, 0.85, 0.01, 8, 1, 2, 19)
        for t in (0.0, 0.5, 0.9)
    )
    return Evaluation(
        None,
        0.9,
        0.9,
        0.3,
        10,
        points,
        confusion_labels=("one", "two", "zero"),  # the service's order: alphabetical
        confusion_rows=((3, 1, 0), (0, 4, 0), (1, 0, 1)),
    )


def test_the_precision_recall_axis_names_the_metrics():
    figure = precision_recall_figure(_evaluation(), "title", chosen=0.5)
    (ax,) = figure.axes
    assert ax.get_ylabel() == "precision, recall, F1"
    assert ax.get_xlabel() == "confidence threshold"


def test_the_confusion_matrix_follows_the_dataset_order_and_says_top1():
    figure = confusion_figure(_evaluation(), "title", ("zero", "one", "two"))
    assert figure is not None
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["zero", "one", "two"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["zero", "one", "two"]
    assert "top-1" in ax.get_xlabel() and "no threshold" in ax.get_xlabel()
    # Row "zero" (1 as one, 1 as zero) reordered: zero, one, two columns.
    assert ax.images[0].get_array().tolist()[0] == [1, 1, 0]
