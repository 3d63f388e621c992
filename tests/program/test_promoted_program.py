"""Program layer with a pinned promotion: the prod stack copies staging's model, never trains."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.promotion.pin import with_pin
from tests.program.run_program import ROOT

DYNAMIC = "pulumi-python:dynamic/edge-labeler:"
FINGERPRINT = "sha256:" + "5e" * 32


def _declared(root: Path, stack: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.program.run_program", stack, str(root)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def _project(base: Path, from_stack: str) -> Path:
    """The example project with prod's Model pinned (as `edgectl promote` writes it)."""
    root = base / f"project-{from_stack}"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "specs", root / "specs")
    overlay = root / "specs" / "envs" / "prod.yaml"
    overlay.write_text(with_pin(overlay.read_text(), "prod", "digits", from_stack, FINGERPRINT))
    return root


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = _declared(_project(tmp_path_factory.mktemp("promoted"), "staging"), "prod")
    assert result["error"] is None, result["error"]
    return {(r["type"], r["name"]): r for r in result["resources"]}


def test_a_promoted_model_is_copied_not_trained(prod):
    types = {t.removeprefix(DYNAMIC) for t, _ in prod}
    assert {"TrainedModel", "AcceptanceGate", "ModelExport"}.isdisjoint(types)
    promoted = prod[(DYNAMIC + "PromotedModel", "digits-promoted")]
    assert promoted["parent"].endswith("edge-labeler:index:Model::digits")
    assert promoted["serialized_provider"] is True
    inputs = promoted["inputs"]
    assert inputs["fingerprint"] == FINGERPRINT
    assert inputs["formats"] == ["tflite"]
    # The source stack's target and bucket, computed from Pulumi.staging.yaml + its specs.
    assert inputs["source"]["stack"] == "staging"
    assert inputs["source"]["bucket"] == "my-company-ml-staging-ml-data"
    assert inputs["source"]["cloud"]["project"] == "my-company-ml-staging"
    assert inputs["cloud"]["stack"] == "prod"
    # prod's own acceptance is checked against the source record.
    assert inputs["criteria"]["no_worse_than_published"] is True
    assert inputs["criteria"]["min_au_prc"] == 0.95


def test_the_publication_takes_the_promoted_artifact_and_stays_protected(prod):
    publication = prod[(DYNAMIC + "Publication", "digits-publication")]
    assert publication["protect"] is True
    assert "digits-promoted" in {d.rsplit("::", 1)[-1] for d in publication["dependencies"]}
    assert publication["inputs"]["fingerprint"] == FINGERPRINT


def test_a_pin_from_an_unknown_stack_fails_the_program_naming_the_field(tmp_path):
    result = _declared(_project(tmp_path, "qa"), "prod")
    assert result["error"] is not None
    assert "specs/envs/prod.yaml" in result["error"]
    assert "spec.promoted.from: the source stack 'qa' cannot be read" in result["error"]
    assert "stack file not found" in result["error"]
