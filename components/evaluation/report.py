"""Evaluation reports: a Markdown summary per model, and PNG plots drawn with matplotlib.

- precision / recall (and F1) vs confidence threshold, the chosen operating point marked,
  optionally over a base model's curves (dashed) for comparison;
- the top-1 confusion matrix of the TEST split (multiclass models; AutoML reports none for
  multilabel ones): rows the true label, columns the highest-scoring label whatever its score
  — no threshold, unlike the per-label precision and recall beside it, which the report says.

Labels are listed in the dataset's order (`ModelReport.labels`, e.g. `zero` … `nine`), in the
tables and on the matrix's axes alike. In a GitHub job summary an image cannot be a relative
file (nor a data: URI, which GitHub strips): `job_summary` links each plot to the artifact
that holds it.

Figures are drawn with matplotlib's object API on the Agg canvas (no display, no global
pyplot state), so reports can be written from any process, threads included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from components.evaluation.gate import GateResult
from components.evaluation.metrics import Evaluation

METRICS = ("threshold", "precision", "recall", "f1", "au_prc")
METRIC_NAMES = {"au_prc": "AuPRC", "f1": "F1"}
DPI = 100


@dataclass(frozen=True)
class ModelMetrics:
    """A gated model's figures at its chosen threshold (None when not measured)."""

    threshold: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    au_prc: float | None
    per_label: Mapping[str, Mapping[str, float | None]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @classmethod
    def from_gate(cls, result: GateResult) -> ModelMetrics:
        o = result.observed
        return cls(
            threshold=o.threshold,
            precision=o.precision,
            recall=o.recall,
            f1=o.f1,
            au_prc=o.au_prc,
            per_label=MappingProxyType(
                {
                    label: {"precision": m.precision, "recall": m.recall, "f1": m.f1}
                    for label, m in o.per_label.items()
                }
            ),
        )

    def get(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class ModelReport:
    """One model of a report: its gate outcome, metrics, plots and what it is compared to."""

    name: str
    fingerprint: str | None = None
    passed: bool | None = None  # None: the gate did not run
    policy: str | None = None
    failures: tuple[str, ...] = ()
    error: str | None = None  # the pipeline failed before the gate
    metrics: ModelMetrics | None = None
    facts: tuple[tuple[str, str], ...] = ()  # (what, value): images, stop reason, node hours
    plots: tuple[tuple[str, str], ...] = ()  # (caption, file name relative to the report)
    base: ModelReport | None = None
    labels: tuple[str, ...] = ()  # the dataset's label order (else the evaluation's)
    top1: Mapping[str, tuple[int, int]] = field(  # label → (top-1 correct, TEST images)
        default_factory=lambda: MappingProxyType({})
    )


def ordered_labels(known: Sequence[str], order: Sequence[str]) -> tuple[str, ...]:
    """`known` labels in `order` (the dataset's), any others after them as they come."""
    first = [label for label in order if label in known]
    return (*first, *(label for label in known if label not in first))


def ordered_confusion(
    evaluation: Evaluation, order: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The evaluation's top-1 confusion matrix (labels, rows) with rows and columns in
    `order`; `((), ())` when it has none."""
    labels, rows = evaluation.confusion_labels, evaluation.confusion_rows
    if not labels or not rows:
        return (), ()
    ordered = ordered_labels(labels, order)
    index = [labels.index(label) for label in ordered]
    return ordered, tuple(tuple(rows[i][j] for j in index) for i in index)


def top1_counts(evaluation: Evaluation) -> dict[str, tuple[int, int]]:
    """Per label, (TEST images whose highest-scoring label is their own, TEST images): the
    confusion matrix's diagonal and row sums."""
    labels, rows = evaluation.confusion_labels, evaluation.confusion_rows
    return {
        label: (row[i], sum(row)) for i, (label, row) in enumerate(zip(labels, rows, strict=True))
    }


# -- plots ----------------------------------------------------------------------------------------
def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def plot_precision_recall(
    evaluation: Evaluation,
    path: Path,
    title: str,
    chosen: float | None = None,
    base: Evaluation | None = None,
    base_chosen: float | None = None,
) -> Path:
    """Precision, recall and F1 vs threshold, the chosen threshold marked (and a base's)."""
    return _save(precision_recall_figure(evaluation, title, chosen, base, base_chosen), path)


def precision_recall_figure(
    evaluation: Evaluation,
    title: str,
    chosen: float | None = None,
    base: Evaluation | None = None,
    base_chosen: float | None = None,
) -> Figure:
    """The figure of `plot_precision_recall`."""
    figure = Figure(figsize=(6.4, 4.2))
    ax = figure.add_subplot()
    thresholds = [p.threshold for p in evaluation.points]
    for label, values, style in (
        ("precision", [p.precision for p in evaluation.points], "-"),
        ("recall", [p.recall for p in evaluation.points], "-"),
        ("F1", [p.f1 for p in evaluation.points], ":"),
    ):
        ax.plot(thresholds, values, style, label=label, linewidth=1.8)
    if base is not None:
        base_thresholds = [p.threshold for p in base.points]
        for label, values, color in (
            ("precision (base)", [p.precision for p in base.points], "C0"),
            ("recall (base)", [p.recall for p in base.points], "C1"),
        ):
            ax.plot(base_thresholds, values, "--", color=color, alpha=0.5, label=label)
        if base_chosen is not None:
            ax.axvline(base_chosen, color="grey", linestyle="--", linewidth=1)
    if chosen is not None:
        point = max(
            (p for p in evaluation.points if p.threshold <= chosen + 1e-9),
            key=lambda p: p.threshold,
            default=None,
        )
        ax.axvline(chosen, color="black", linewidth=1)
        if point is not None:
            ax.plot([chosen], [point.precision], "o", color="C0")
            ax.plot([chosen], [point.recall], "o", color="C1")
            ax.annotate(
                f"threshold {chosen:g}\nP {point.precision:.3f}  R {point.recall:.3f}",
                xy=(chosen, min(point.precision, point.recall)),
                xytext=(8, -28),
                textcoords="offset points",
                fontsize=8,
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("precision, recall, F1")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(
    evaluation: Evaluation, path: Path, title: str, order: Sequence[str] = ()
) -> Path | None:
    """The TEST split's top-1 confusion matrix (rows: true label, columns: the highest-scoring
    label, no threshold), labels in `order`; None when the evaluation has none (multilabel)."""
    figure = confusion_figure(evaluation, title, order)
    return None if figure is None else _save(figure, path)


def confusion_figure(
    evaluation: Evaluation, title: str, order: Sequence[str] = ()
) -> Figure | None:
    """The figure of `plot_confusion_matrix`."""
    labels, rows = ordered_confusion(evaluation, order)
    if not labels or not rows:
        return None
    size = max(4.0, 0.45 * len(labels) + 2)
    figure = Figure(figsize=(size, size))
    ax = figure.add_subplot()
    image = ax.imshow(rows, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("highest-scoring label (top-1, no threshold)")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=10)
    peak = max((max(r) for r in rows if r), default=0)
    for i, row in enumerate(rows):
        for j, count in enumerate(row):
            if count:
                color = "white" if count > peak / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    return figure


# -- Markdown -------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _delta(new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return "—"
    change = new - old
    return "±0" if abs(change) < 5e-4 else f"{change:+.3f}"


def _verdict(report: ModelReport) -> str:
    if report.error:
        return "❌ not gated (the pipeline failed)"
    if report.passed is None:
        return "— not gated"
    return "✅ passes its gate" if report.passed else "❌ fails its gate"


def _at(threshold: float | None) -> str:
    return "the chosen threshold" if threshold is None else f"threshold {threshold:g}"


def _metrics_table(report: ModelReport) -> list[str]:
    metrics, base = report.metrics, report.base.metrics if report.base else None
    if metrics is None:
        return []
    lines = [
        f"Overall, at {_at(metrics.threshold)} (the gate's policy"
        + (f" {report.policy}" if report.policy else "")
        + "): precision, recall and F1 count every (TEST image, label) pair whose score is "
        "at least the threshold (micro-averaged); AuPRC is measured over all thresholds.",
        "",
    ]
    header = "| metric | this revision |" + (" base | change |" if base else "")
    rule = "|---|---|" + ("---|---|" if base else "")
    rows = [header, rule]
    for name in METRICS:
        value = metrics.get(name)
        row = f"| {METRIC_NAMES.get(name, name)} | {_number(value)} |"
        if base is not None:
            row += f" {_number(base.get(name))} | {_delta(value, base.get(name))} |"
        rows.append(row)
    return lines + rows


def _label_table(report: ModelReport) -> list[str]:
    metrics, base = report.metrics, report.base.metrics if report.base else None
    if metrics is None or not metrics.per_label:
        return []
    at = _at(metrics.threshold)
    lines = [
        f"Per label, at {at} (one-vs-rest: a label is predicted for an image when its score "
        "is at least the threshold)."
        + (
            " *Top-1 correct* counts the label's TEST images whose highest-scoring label is "
            "their own, whatever the score: the confusion matrix's diagonal, which has no "
            "threshold. Recall at the threshold is lower when a correct top label scores "
            "below it (and, under 0.5, can be higher: a label other than the top one may "
            "reach the threshold)."
            if report.top1
            else ""
        ),
        "",
    ]
    top1 = " top-1 correct |" if report.top1 else ""
    header = f"| label | precision | recall | F1 |{top1}"
    rows = [header + (" Δ precision | Δ recall |" if base else "")]
    rows.append("|---|---|---|---|" + ("---|" if top1 else "") + ("---|---|" if base else ""))
    for label in ordered_labels(tuple(metrics.per_label), report.labels):
        values = metrics.per_label[label]
        row = (
            f"| {label} | {_number(values.get('precision'))} | {_number(values.get('recall'))} "
            f"| {_number(values.get('f1'))} |"
        )
        if top1:
            correct, total = report.top1.get(label, (0, 0))
            row += f" {correct}/{total} |"
        if base is not None:
            old = base.per_label.get(label, {})
            row += (
                f" {_delta(values.get('precision'), old.get('precision'))} |"
                f" {_delta(values.get('recall'), old.get('recall'))} |"
            )
        rows.append(row)
    return lines + rows


PLOT_NOTES = {
    "confusion matrix": "Rows: the true label; columns: the highest-scoring label, whatever "
    "its score (top-1, no threshold); TEST split, labels in the dataset's order.",
    "precision and recall vs threshold": "Overall precision, recall and F1 of the TEST split "
    "at each confidence threshold; the vertical line is the chosen threshold.",
}


def render_report(
    title: str,
    models: Sequence[ModelReport],
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
    plot_link: Callable[[str, str], str] | None = None,
) -> str:
    """The report's Markdown: a summary table, `sections` (Markdown lines), then a section per
    model with its plots.

    `plot_link(caption, file)`: the Markdown standing for a plot (default: the image itself,
    a path relative to the report)."""
    # Long: one section after another, in the order report.md shows them; each is a few lines.
    lines = [f"# {title}", ""]
    lines += [f"> {note}" for note in notes]
    if notes:
        lines.append("")
    with_base = any(m.base is not None for m in models)
    lines += [
        "Precision and recall at each model's chosen threshold (the threshold column), "
        "over the TEST split; AuPRC over all thresholds.",
        "",
    ]
    lines.append(
        "| model | gate | threshold | precision | recall | AuPRC |"
        + (" Δ precision | Δ recall | Δ AuPRC |" if with_base else "")
    )
    lines.append("|---|---|---|---|---|---|" + ("---|---|---|" if with_base else ""))
    for m in models:
        x = m.metrics or ModelMetrics(None, None, None, None, None)
        row = (
            f"| `{m.name}` | {_verdict(m)} | {_number(x.threshold)} | {_number(x.precision)} "
            f"| {_number(x.recall)} | {_number(x.au_prc)} |"
        )
        if with_base:
            b = m.base.metrics if m.base and m.base.metrics else None
            row += "".join(
                f" {_delta(x.get(k), b.get(k) if b else None)} |"
                for k in ("precision", "recall", "au_prc")
            )
        lines.append(row)
    lines.append("")
    lines += sections
    for m in models:
        lines += [f"## Model `{m.name}` — {_verdict(m)}", ""]
        if m.fingerprint:
            lines += [
                f"Fingerprint `{m.fingerprint}`"
                + (f", threshold policy {m.policy}" if m.policy else "")
                + ".",
                "",
            ]
        if m.error:
            lines += ["```text", m.error, "```", ""]
        if m.failures:
            lines += ["Unmet criteria:", *(f"- {f}" for f in m.failures), ""]
        lines += [f"- {what}: {value}" for what, value in m.facts]
        if m.facts:
            lines.append("")
        if m.base is not None:
            lines += [
                f"Compared with the base revision's model ({_verdict(m.base)}"
                + (f", `{m.base.fingerprint[:19]}…`" if m.base.fingerprint else "")
                + ")."
            ]
            if m.base.fingerprint and m.base.fingerprint == m.fingerprint:
                lines.append("Same training fingerprint: the same model, evaluated again.")
            lines.append("")
        table = _metrics_table(m)
        if table:
            lines += [*table, ""]
        labels = _label_table(m)
        if labels:
            lines += [*labels, ""]
        for caption, file in m.plots:
            shown = plot_link(caption, file) if plot_link else f"![{caption}]({file})"
            note = PLOT_NOTES.get(caption)
            lines += [shown, "", *([f"*{note}*", ""] if note else [])]
    return "\n".join(lines).rstrip() + "\n"


def artifact_link(artifact_url: str) -> Callable[[str, str], str]:
    """`render_report`'s plot_link for a GitHub job summary: a link to the artifact that
    holds the plot (a summary shows no relative image, and GitHub strips data: URIs)."""

    def link(caption: str, file: str) -> str:
        return f"📊 [{caption} (`{file}` in the rehearsal artifact)]({artifact_url})"

    return link


def write_report(
    directory: Path,
    title: str,
    models: Sequence[ModelReport],
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
    artifact_url: str | None = None,
) -> Path:
    """Writes `report.md` in `directory` (the plots are already there); returns its path.

    With `artifact_url` (where the directory is uploaded, e.g. a GitHub run's artifacts), also
    `summary.md`: the same report with each plot a link to it, for a job summary."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.md"
    path.write_text(render_report(title, models, notes, sections), encoding="utf-8")
    if artifact_url:
        summary = render_report(title, models, notes, sections, artifact_link(artifact_url))
        (directory / "summary.md").write_text(summary, encoding="utf-8")
    return path
