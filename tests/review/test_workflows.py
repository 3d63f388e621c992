"""The GitHub workflows parse, and every `edgectl` command and flag they use exists."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.cli import build_parser
from tests.review.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CALL = re.compile(r"edgectl (\w+)((?:\\\n|[^\n|>&;])*)")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


EDGECTL_WORKFLOWS = [w for w in WORKFLOWS if w.name != "ci.yml"]  # ci.yml runs the tests


def test_the_workflows_exist():
    assert [w.name for w in WORKFLOWS] == [
        "ci.yml",
        "deploy.yml",
        "promote.yml",
        "pull-request.yml",
    ]


def test_ci_runs_the_readme_test_command_on_pull_requests_with_the_venv_cached():
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = document[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and "push" in triggers
    steps = document["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["bash .ci/run"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == ".venv"
    for pins in ("requirements.txt", "requirements-dev.txt", "policy/requirements.txt"):
        assert f"'{pins}'" in cache["with"]["key"]


@pytest.mark.parametrize("workflow", EDGECTL_WORKFLOWS, ids=lambda w: w.name)
def test_edgectl_calls_use_existing_commands_and_flags(workflow):
    text = workflow.read_text()
    document = yaml.safe_load(text)
    assert document["jobs"]
    commands = _subcommands()
    calls = CALL.findall(text)
    assert calls, "no edgectl call"
    for name, rest in calls:
        assert name in commands, name
        known = {s for a in commands[name]._actions for s in a.option_strings}
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            assert flag in known, f"edgectl {name} {flag}"


# A `|` between two commands; not `||`, and not a YAML block marker (`run: |` is parsed away).
PIPE = re.compile(r"(?<![|\\])\|(?![|])")


def _steps(document: dict) -> list[tuple[str, dict, str | None]]:
    """(job id, step, the step's shell as GitHub resolves it: step, job defaults, workflow)."""
    default = (document.get("defaults") or {}).get("run", {}).get("shell")
    steps = []
    for job_id, job in document["jobs"].items():
        job_default = (job.get("defaults") or {}).get("run", {}).get("shell", default)
        steps += [(job_id, s, s.get("shell", job_default)) for s in job.get("steps", [])]
    return steps


def _pipes(script: str) -> list[str]:
    """Lines of a shell script with a pipeline (comments and quoted text left out)."""
    lines = []
    for line in script.splitlines():
        code = re.sub(r"'[^']*'|\"[^\"]*\"", "''", line.split(" #", 1)[0])
        if not code.lstrip().startswith("#") and PIPE.search(code):
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_a_failing_command_before_a_pipe_fails_its_step(workflow):
    # GitHub runs `run:` with `bash -e {0}` unless `shell: bash` is named, which adds
    # `-o pipefail`; without it `edgectl promote … | tee` has tee's status: a refused
    # promotion would go on to open a pull request and end green.
    document = yaml.safe_load(workflow.read_text())
    for job_id, step, shell in _steps(document):
        script = step.get("run") or ""
        pipes = _pipes(script)
        if not pipes:
            continue
        sets_pipefail = re.search(r"^\s*set -[a-z]*o pipefail", script, re.M) is not None
        assert shell == "bash" or sets_pipefail, (
            f"{workflow.name} job {job_id} step {step.get('name') or script.splitlines()[0]!r}: "
            f"{pipes[0]!r} pipes without pipefail (set `shell: bash`)"
        )


def test_the_pipe_check_sees_the_promote_steps_pipe():
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "promote.yml").read_text())
    (step,) = [s for _, s, _ in _steps(document) if s.get("name") == "edgectl promote"]
    assert _pipes(step["run"]) == ['.venv/bin/edgectl promote "${args[@]}" | tee promotion.txt']
    assert _pipes('a || b\necho "x | y"\n# c | d\nbody<<EOF') == []


def test_promote_inputs_offer_the_declared_paths():
    from components.spec import load_stack_config
    from components.spec.stack import stack_names

    document = yaml.safe_load((ROOT / ".github" / "workflows" / "promote.yml").read_text())
    inputs = document[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on:` as True
    declared = {s: load_stack_config(s, ROOT).promote_from for s in stack_names(ROOT)}
    targets = sorted(s for s, sources in declared.items() if sources)
    assert sorted(inputs["to"]["options"]) == targets
    assert sorted(inputs["from"]["options"]) == sorted({s for t in targets for s in declared[t]})


# How GitHub runs a `run:` script on Linux: without `shell`, `bash -e {0}`; with
# `shell: bash`, `bash --noprofile --norc -eo pipefail {0}` (the workflow syntax reference).
GITHUB_SHELLS = {
    None: ["bash", "-e"],
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
}


def run_promote_step(workflow_text: str, tmp_path: Path, source: str, target: str):
    """Runs promote.yml's `edgectl promote` step as GitHub would, on a copy of the example
    project with the real edgectl; returns (the finished process, the step's GITHUB_OUTPUT)."""
    document = yaml.safe_load(workflow_text)
    ((_, step, shell),) = [s for s in _steps(document) if s[1].get("id") == "promote"]
    project = tmp_path / "project"
    project.mkdir()
    for path in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, project / path.name)
    shutil.copytree(ROOT / "specs", project / "specs")
    edgectl = project / ".venv" / "bin" / "edgectl"
    edgectl.parent.mkdir(parents=True)
    edgectl.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m components.cli "$@"\n')
    edgectl.chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "MODEL": "digits",
        "FROM": source,
        "TO": target,
        "FINGERPRINT": "",
        "GITHUB_OUTPUT": str(output),
    }
    done = subprocess.run(
        [*GITHUB_SHELLS[shell], str(script)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, output.read_text()


def test_a_refused_promotion_fails_the_promote_step_before_the_pull_request(tmp_path):
    # dev → prod: both are choices of the form, but prod declares promoteFrom: [staging].
    text = (ROOT / ".github" / "workflows" / "promote.yml").read_text()
    done, output = run_promote_step(text, tmp_path, "dev", "prod")
    assert done.returncode == 1, done.stderr
    assert "edgectl promote: not promoted from 'dev' to 'prod'" in done.stderr
    assert output == ""  # no pull-request body: the step stopped at the refusal


def test_the_rehearsal_trains_by_epochs_and_fails_on_any_stacks_gate():
    from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV

    text = (ROOT / ".github" / "workflows" / "pull-request.yml").read_text()
    job = yaml.safe_load(text)["jobs"]["rehearse"]
    # One variable, set once: the budget in epochs (a speed-independent rehearsal).
    assert text.count(EPOCHS_PER_NODE_HOUR_ENV) == 1
    assert int(job["env"][EPOCHS_PER_NODE_HOUR_ENV]) > 0
    rehearse = next(s for s in job["steps"] if s.get("id") == "rehearse")
    assert "edgectl rehearse" in rehearse["run"] and "status=$?" in rehearse["run"]
    fail = job["steps"][-1]
    assert fail["if"] == "steps.rehearse.outputs.status != '0'" and "exit" in fail["run"]
