"""`edgectl rehearse --base REV` on a small project: a fresh emulator, the real providers, the
report with its plots; the base revision rehearsed from git, metric deltas reported."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

from components.cli import main
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from emulator.server import ENV_KEYS
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import patched_environ
from tests.review.conftest import git

SPECS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: digits}
spec:
  bucket: data
  source: {zip: data/digits.zip}
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {nodeHours: 1}
  acceptance:
    threshold: {maximize: f1}
    minPrecision: 0.3
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {name: digits}
spec:
  model: digits
  target: firebase-ml
  displayName: rehearsed_digits
"""


ARTIFACT_URL = "https://github.com/o/r/actions/runs/1#artifacts"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed project; the working tree then asks for a label the model does not have."""
    root = tmp_path_factory.mktemp("rehearsal") / "project"
    (root / "specs").mkdir(parents=True)
    write_zip(root / "specs" / "data" / "digits.zip", digit_images(20, ("zero", "one", "two")))
    (root / "Pulumi.yaml").write_text("name: edge-labeler\nruntime: python\n")
    (root / "Pulumi.local.yaml").write_text(
        'config:\n  edge-labeler:project: rehearse-local\n  edge-labeler:emulator: "true"\n'
    )
    (root / "specs" / "all.yaml").write_text(SPECS)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    # The change under review: only the acceptance (the same model, gated differently).
    (root / "specs" / "all.yaml").write_text(
        SPECS.replace(
            "    threshold: {maximize: f1}\n    minPrecision: 0.3\n",
            "    threshold: {fixed: 0.05}\n    minPrecision: 0.3\n"
            "    perLabel: {three: {minRecall: 0.5}}\n",
        )
    )
    return root


@pytest.fixture(scope="module")
def rehearsed(project: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("rehearsal-report")
    # Runs on its own fresh emulator, whatever emulator the session has started.
    before = {key: os.environ.get(key) for key in ENV_KEYS}
    console = io.StringIO()
    # 1 node hour = 10 epochs of the 48 TRAIN digits: the base passes its gate on any machine.
    with patched_environ({EPOCHS_PER_NODE_HOUR_ENV: "10"}), contextlib.redirect_stdout(console):
        code = main(
            [
                "rehearse",
                "--project-dir",
                str(project),
                "--base",
                "HEAD",
                "--out",
                str(out),
                "--artifact-url",
                ARTIFACT_URL,
            ]
        )
    return code, out, console.getvalue(), before, {key: os.environ.get(key) for key in ENV_KEYS}


def test_report_and_plots_are_written(rehearsed):
    out = rehearsed[1]
    assert (out / "report.md").is_file()
    for plot in ("digits-precision-recall.png", "digits-confusion-matrix.png"):
        data = (out / plot).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, plot
    report = (out / "report.md").read_text()
    assert "![precision and recall vs threshold](digits-precision-recall.png)" in report
    assert "![confusion matrix](digits-confusion-matrix.png)" in report


def test_a_failing_gate_is_reported_not_raised(rehearsed):
    code, out, *_ = rehearsed
    assert code == 1  # this revision's gate fails: the rehearsal says so
    report = (out / "report.md").read_text()
    assert "## Model `digits` — ❌ fails its gate" in report
    assert "label 'three' (perLabel) is not a label of this model" in report
    assert "threshold policy fixed 0.05" in report
    assert "- stop reason: " in report and "- images (train / validation / test): 60 (" in report


def test_the_console_shows_every_unmet_criterion(rehearsed):
    _, out, console, *_ = rehearsed
    report = (out / "report.md").read_text().splitlines()
    start = report.index("Unmet criteria:") + 1
    unmet = report[start : report.index("", start)]
    assert "- label 'three' (perLabel) is not a label of this model; labels: one, two, zero" in (
        unmet
    )
    lines = console.splitlines()
    (gate,) = [n for n, line in enumerate(lines) if "AcceptanceGate digits-gate: failed: " in line]
    assert lines[gate].endswith("failed its acceptance gate (fixed 0.05 at threshold 0.05):")
    # Each criterion of the report, on the console under the gate's line (observed vs required).
    assert lines[gate + 1 : gate + 1 + len(unmet)] == [f"[rehearse]   {u}" for u in unmet]


def test_with_base_the_metric_deltas_appear(rehearsed):
    out = rehearsed[1]
    report = (out / "report.md").read_text()
    assert "| model | gate | threshold | precision | recall | AuPRC | Δ precision | Δ recall |" in (
        report
    )
    assert "Compared with the base revision's model (✅ passes its gate" in report
    # Only the acceptance changed: the same training fingerprint, adopted, not trained twice.
    assert "Same training fingerprint: the same model, evaluated again." in report
    row = re.search(r"^\| threshold \| 0\.050 \| (\d\.\d{3}) \| ([^|]+) \|$", report, re.M)
    assert row is not None, report
    assert row.group(2).strip() not in ("±0", "—")
    assert re.search(
        r"^\| one \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+/\d+ \| [^|]+ \| [^|]+ \|$", report, re.M
    )


def test_the_emulator_environment_is_restored(rehearsed):
    *_, before, after = rehearsed
    assert after == before  # the rehearsal's own emulator left nothing behind


def _label_rows(report: str) -> list[list[str]]:
    """The per-label table's rows (cells), in order."""
    lines = report.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| label |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_labels_are_listed_in_the_dataset_order(rehearsed):
    """The zip's folders come zero, one, two: the table follows it, not the alphabet."""
    report = (rehearsed[1] / "report.md").read_text()
    assert [row[0] for row in _label_rows(report)] == ["zero", "one", "two"]


def test_each_figure_says_at_which_threshold_it_is_measured(rehearsed):
    report = (rehearsed[1] / "report.md").read_text()
    assert "Overall, at threshold 0.05 (the gate's policy fixed 0.05)" in report
    assert "Per label, at threshold 0.05 (one-vs-rest" in report
    assert "| label | precision | recall | F1 | top-1 correct |" in report
    # The top-1 column is the confusion matrix's diagonal over its row: n/20·0.1 TEST images.
    for row in _label_rows(report):
        correct, total = map(int, row[4].split("/"))
        assert 0 <= correct <= total and total >= 1
    assert "(top-1, no threshold)" in report


def test_the_job_summary_links_each_plot_to_the_artifact(rehearsed):
    out = rehearsed[1]
    summary = (out / "summary.md").read_text()
    assert not re.search(r"!\[[^]]*\]\((?!https?:)", summary)  # no relative image
    assert "data:image" not in summary
    for plot in ("digits-precision-recall.png", "digits-confusion-matrix.png"):
        assert f"(`{plot}` in the rehearsal artifact)]({ARTIFACT_URL})" in summary
    # Everything else is the report.
    report = (out / "report.md").read_text()
    assert [line for line in summary.splitlines() if ".png" not in line] == [
        line for line in report.splitlines() if ".png" not in line
    ]


def test_the_studio_gets_the_evaluation_and_the_model(rehearsed):
    kept = rehearsed[1] / "digits"
    data = json.loads((kept / "evaluation.json").read_text())
    assert data["labels"] == ["zero", "one", "two"]
    assert data["criteria"]["policy"] == "fixed" and data["criteria"]["value"] == 0.05
    assert data["datasetFingerprint"].startswith("sha256:")
    # This revision fails its gate: nothing was exported, so no TF Lite file is kept (the
    # studio evaluates it, and tests only exported models: tests/studio/).
    assert data["modelFiles"] == [] and not (kept / "model.tflite").exists()
