"""Program layer with a pinned promotion: the prod stack copies staging's model, never trains."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.promotion.pin import with_pin
from tests.program.run_program import ROOT, program_result

DYNAMIC = "pulumi-python:dynamic/edge-labeler:"
FINGERPRINT = "sha256:" + "5e" * 32


def _declared(root: Path, stack: str) -> dict:
    return program_result(stack, root)


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
    root = _project(tmp_path, "qa")
    _declare(root, "[staging, qa]")  # declared, so the program goes on to read it
    result = _declared(root, "prod")
    assert result["error"] is not None
    assert "specs/envs/prod.yaml" in result["error"]
    assert "spec.promoted.from: the source stack 'qa' cannot be read" in result["error"]
    assert "stack file not found" in result["error"]


def _declare(root: Path, sources: str) -> None:
    """Sets prod's `edge-labeler:promoteFrom` in the copied Pulumi.prod.yaml."""
    stack_file = root / "Pulumi.prod.yaml"
    text = stack_file.read_text()
    assert "  edge-labeler:promoteFrom: [staging]\n" in text
    stack_file.write_text(text.replace("[staging]", sources))


@pytest.mark.parametrize("declared", ["[staging]", "[staging, local]"])
def test_a_pin_from_the_emulator_stack_fails_the_program_before_any_resource(tmp_path, declared):
    root = _project(tmp_path, "local")
    _declare(root, declared)  # declaring the emulator stack as a source changes nothing
    text = (root / "specs" / "envs" / "prod.yaml").read_text().splitlines()
    (line,) = [n for n, t in enumerate(text, 1) if t.startswith("  promoted: {from: local")]
    column = text[line - 1].index("local") + 1
    result = _declared(root, "prod")
    assert result["error"] == (
        f"specs/envs/prod.yaml:{line}:{column}: Model 'digits' spec.promoted.from: 'local' is an "
        "emulator stack (edge-labeler:emulator: true in Pulumi.local.yaml): it is never a source "
        "for the non-emulator stack 'prod', whatever edge-labeler:promoteFrom declares; allowed "
        "sources: staging (edge-labeler:promoteFrom in Pulumi.prod.yaml)"
    )
    # Refused before anything is declared: nothing is created in prod.
    assert [r["type"] for r in result["resources"] if r["type"] != "pulumi:pulumi:Stack"] == []
