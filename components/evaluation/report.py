"""Evaluation reports: a Markdown summary per model, and PNG plots drawn with matplotlib.

- precision / recall (and F1) vs confidence threshold, the chosen operating point marked,
  optionally over a base model's curves (dashed) for comparison;
- the confusion matrix of the TEST split (multiclass models; AutoML reports none for
  multilabel ones).

Figures are drawn with matplotlib's object API on the Agg canvas (no display, no global
pyplot state), so reports can be written from any process, threads included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    ax.set_ylabel("TEST split")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_confusion_matrix(evaluation: Evaluation, path: Path, title: str) -> Path | None:
    """The TEST split's confusion matrix (rows: true label, columns: predicted); None when
    the evaluation has none (multilabel)."""
    labels, rows = evaluation.confusion_labels, evaluation.confusion_rows
    if not labels or not rows:
        return None
    size = max(4.0, 0.45 * len(labels) + 2)
    figure = Figure(figsize=(size, size))
    ax = figure.add_subplot()
    image = ax.imshow(rows, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=10)
    peak = max((max(r) for r in rows if r), default=0)
    for i, row in enumerate(rows):
        for j, count in enumerate(row):
            if count:
                color = "white" if count > peak / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    return _save(figure, path)


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


def _metrics_table(report: ModelReport) -> list[str]:
    metrics, base = report.metrics, report.base.metrics if report.base else None
    if metrics is None:
        return []
    header = "| metric | this revision |" + (" base | change |" if base else "")
    rule = "|---|---|" + ("---|---|" if base else "")
    rows = [header, rule]
    for name in METRICS:
        value = metrics.get(name)
        row = f"| {METRIC_NAMES.get(name, name)} | {_number(value)} |"
        if base is not None:
            row += f" {_number(base.get(name))} | {_delta(value, base.get(name))} |"
        rows.append(row)
    return rows


def _label_table(report: ModelReport) -> list[str]:
    metrics, base = report.metrics, report.base.metrics if report.base else None
    if metrics is None or not metrics.per_label:
        return []
    rows = ["| label | precision | recall |" + (" Δ precision | Δ recall |" if base else "")]
    rows.append("|---|---|---|" + ("---|---|" if base else ""))
    for label, values in sorted(metrics.per_label.items()):
        row = f"| {label} | {_number(values.get('precision'))} | {_number(values.get('recall'))} |"
        if base is not None:
            old = base.per_label.get(label, {})
            row += (
                f" {_delta(values.get('precision'), old.get('precision'))} |"
                f" {_delta(values.get('recall'), old.get('recall'))} |"
            )
        rows.append(row)
    return rows


def render_report(
    title: str,
    models: Sequence[ModelReport],
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
) -> str:
    """The report's Markdown: a summary table, `sections` (Markdown lines), then a section per
    model with its plots."""
    lines = [f"# {title}", ""]
    lines += [f"> {note}" for note in notes]
    if notes:
        lines.append("")
    with_base = any(m.base is not None for m in models)
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
            lines += ["Per label, at the chosen threshold:", "", *labels, ""]
        for caption, file in m.plots:
            lines += [f"![{caption}]({file})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    directory: Path,
    title: str,
    models: Sequence[ModelReport],
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
) -> Path:
    """Writes `report.md` in `directory` (the plots are already there); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.md"
    path.write_text(render_report(title, models, notes, sections), encoding="utf-8")
    return path
