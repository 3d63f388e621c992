"""Promotion paths (`edge-labeler:promoteFrom`): `validate` and `promote` refuse a pin that
breaks the declared path, with the overlay's file:line and the allowed sources; an emulator
stack is never a source for a cloud stack.

On a copy of the example project (no emulator: every refusal here happens before any cloud
read). The same rules in the Pulumi program: tests/program/test_promoted_program.py; in
`edgectl review`: tests/review/test_review.py; `promote` of a real record:
tests/promotion/test_promotion.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.cli import main
from components.promotion.pin import with_pin

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = "sha256:" + "5e" * 32
PROD = "specs/envs/prod.yaml"
EMULATOR_SOURCE = (
    "'local' is an emulator stack (edge-labeler:emulator: true in Pulumi.local.yaml): it is "
    "never a source for the non-emulator stack 'prod', whatever edge-labeler:promoteFrom "
    "declares; allowed sources: staging (edge-labeler:promoteFrom in Pulumi.prod.yaml)"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project; the working directory, so messages read `specs/…`."""
    root = tmp_path / "project"
    root.mkdir()
    for path in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, root / path.name)
    shutil.copytree(ROOT / "specs", root / "specs")
    monkeypatch.chdir(root)
    return root


def _pin(root: Path, stack: str, from_stack: str) -> tuple[int, int]:
    """Pins Model digits in `stack`'s overlay as `edgectl promote` writes it; where `from` is."""
    overlay = root / "specs" / "envs" / f"{stack}.yaml"
    text = with_pin(overlay.read_text(), stack, "digits", from_stack, FINGERPRINT)
    overlay.write_text(text)
    (line,) = [n for n, t in enumerate(text.splitlines(), 1) if t.startswith("  promoted:")]
    return line, text.splitlines()[line - 1].index(f"from: {from_stack}") + len("from: ") + 1


def test_validate_refuses_a_local_pin_in_prod_naming_the_pin_and_the_allowed_sources(
    project, capsys
):
    line, column = _pin(project, "prod", "local")
    assert main(["validate", "specs"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{PROD}:{line}:{column}: Model 'digits' spec.promoted.from: {EMULATOR_SOURCE}",
        "invalid: 1 error in 1 file(s) (base + stacks dev, local, prod, staging)",
    ]
    assert main(["validate", "specs", "--stack", "prod", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (error,) = report["errors"]
    assert (error["file"], error["line"], error["column"]) == (PROD, line, column)
    assert (error["kind"], error["name"]) == ("Model", "digits")
    assert error["field"] == "spec.promoted.from"


def test_validate_accepts_a_pin_along_the_declared_path(project, capsys):
    _pin(project, "prod", "staging")
    assert main(["validate", "specs"]) == 0
    assert capsys.readouterr().out.startswith("valid: ")


def test_validate_refuses_a_pin_into_a_stack_that_declares_no_source(project, capsys):
    line, column = _pin(project, "dev", "staging")
    assert main(["validate", "specs", "--stack", "dev"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"specs/envs/dev.yaml:{line}:{column}: Model 'digits' spec.promoted.from: 'staging' is "
        "not a promotion source of stack 'dev'; stack 'dev' accepts no promotion: set "
        "edge-labeler:promoteFrom in Pulumi.dev.yaml to the stacks it may take models from"
    )


def test_validate_refuses_a_pin_between_stacks_not_on_the_path(project, capsys):
    line, column = _pin(project, "prod", "dev")
    assert main(["validate", "specs", "--stack", "prod"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{PROD}:{line}:{column}: Model 'digits' spec.promoted.from: 'dev' is not a promotion "
        "source of stack 'prod'; allowed sources: staging (edge-labeler:promoteFrom in "
        "Pulumi.prod.yaml)"
    )


def test_validate_finds_the_pulumi_project_above_the_spec_directory(project, capsys, tmp_path):
    line, column = _pin(project, "prod", "local")
    specs = str(project / "specs")
    assert (project / "Pulumi.yaml").is_file()
    assert main(["validate", specs, "--stack", "prod"]) == 1
    assert EMULATOR_SOURCE in capsys.readouterr().out
    # Outside any Pulumi project, a pin cannot be checked: refused, saying what to pass.
    (project / "Pulumi.yaml").unlink()
    assert main(["validate", specs, "--stack", "prod"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{specs}/envs/prod.yaml:{line}:{column}: Model 'digits' ")
    assert "no Pulumi project (Pulumi.yaml) at or above" in out and "--project-dir" in out
    assert main(["validate", specs, "--stack", "prod", "--project-dir", str(project)]) == 1
    assert EMULATOR_SOURCE in capsys.readouterr().out


def test_promote_refuses_local_to_prod_before_reading_anything(project, capsys):
    overlay = project / PROD
    before = overlay.read_text()
    code = main(["promote", "--model", "digits", "--from", "local", "--to", "prod"])
    assert code == 1
    err = capsys.readouterr().err
    # The path is refused first: not a complaint about the emulator's environment or records.
    assert err == f"edgectl promote: not promoted from 'local' to 'prod': {EMULATOR_SOURCE}\n"
    assert overlay.read_text() == before


def test_promote_refuses_a_source_the_target_does_not_declare(project, capsys):
    code = main(["promote", "--model", "digits", "--from", "dev", "--to", "prod"])
    assert code == 1
    assert capsys.readouterr().err == (
        "edgectl promote: not promoted from 'dev' to 'prod': 'dev' is not a promotion source of "
        "stack 'prod'; allowed sources: staging (edge-labeler:promoteFrom in Pulumi.prod.yaml)\n"
    )
    code = main(["promote", "--model", "digits", "--from", "staging", "--to", "dev"])
    assert code == 1
    assert "set edge-labeler:promoteFrom in Pulumi.dev.yaml" in capsys.readouterr().err
