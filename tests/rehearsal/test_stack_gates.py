"""The rehearsed model against every stack's gate, on the example project's stacks and
overlays (hand-built evaluations: no training)."""

import shutil
from pathlib import Path
from types import MappingProxyType

import pytest

from components.evaluation.metrics import ConfidencePoint, Evaluation, Evaluations
from components.review.stack_gates import judge_on_stacks, render_verdicts

ROOT = Path(__file__).resolve().parents[2]
PIN = 'promoted: {from: staging, fingerprint: "sha256:' + "a" * 64 + '"}'


def _evaluations(correct: int) -> Evaluations:
    """100 TEST images, `correct` of them right at every threshold (precision = recall)."""

    def evaluation(label):
        share = correct / 100
        wrong = 100 - correct
        points = tuple(
            ConfidencePoint(t / 20, share, share, share, 0, 0, 0, 0.0, correct, wrong, wrong, 0)
            for t in range(20)
        )
        return Evaluation(label, 0.97, 0.98, 0.2, 100, points)

    labels = {label: evaluation(label) for label in ("eight", "nine")}
    return Evaluations(evaluation(None), MappingProxyType(labels))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


def _by_stack(verdicts):
    return {v.stack: v for v in verdicts}


def test_a_model_that_passes_local_but_not_staging_and_prod_fails_the_rehearsal(project):
    verdicts = _by_stack(judge_on_stacks(project, {"digits": _evaluations(88)}))
    assert set(verdicts) == {"local", "dev", "staging", "prod"}
    assert not verdicts["local"].failed and not verdicts["dev"].failed
    for stack in ("staging", "prod"):
        assert verdicts[stack].failed
        failures = verdicts[stack].result.failures
        assert any("minPrecision" in f and "0.880" in f and "0.9" in f for f in failures)
    section = "\n".join(render_verdicts(tuple(verdicts.values())))
    assert "| `digits` | prod | ❌ fails |" in section
    assert "**prod** `digits`: `noWorseThan: published` is not judged here" in section


def test_a_good_model_passes_every_stack(project):
    verdicts = judge_on_stacks(project, {"digits": _evaluations(97)})
    assert [v.failed for v in verdicts] == [False] * 4


def test_a_loosened_prod_gate_is_exercised(project):
    prod = project / "specs" / "envs" / "prod.yaml"
    prod.write_text(prod.read_text().replace("minPrecision: 0.9", "minPrecision: 0.99", 1))
    verdicts = _by_stack(judge_on_stacks(project, {"digits": _evaluations(97)}))
    assert verdicts["prod"].failed and not verdicts["staging"].failed
    assert any("minPrecision" in f for f in verdicts["prod"].result.failures)


def test_a_pinned_stack_keeps_its_source_threshold_and_checks_its_own_minima(project):
    prod = project / "specs" / "envs" / "prod.yaml"
    text = prod.read_text()
    marker = "  acceptance:\n"
    assert marker in text
    prod.write_text(text.replace(marker, f"  {PIN}\n{marker}", 1))
    verdicts = _by_stack(judge_on_stacks(project, {"digits": _evaluations(97)}))
    assert verdicts["prod"].promoted_from == "staging"
    assert verdicts["prod"].result.point == verdicts["staging"].result.point
    assert not verdicts["prod"].failed
    failing = _by_stack(judge_on_stacks(project, {"digits": _evaluations(88)}))["prod"]
    assert failing.failed and "the source stack 'staging' gate fails" in failing.result.failures


def test_a_stack_that_does_not_load_fails_the_check(project):
    (project / "specs" / "envs" / "dev.yaml").write_text("apiVersion: edge-labeler/v1\nkind: [")
    verdicts = _by_stack(judge_on_stacks(project, {"digits": _evaluations(97)}))
    assert verdicts["dev"].failed and "dev.yaml" in verdicts["dev"].error
    assert str(project) not in verdicts["dev"].error
