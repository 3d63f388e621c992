"""Every `pulumi preview` and `pulumi up` of the workflows runs the policy pack."""

from __future__ import annotations

import yaml

from tests.program.run_program import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _pulumi_steps() -> list[tuple[str, list[dict], int]]:
    """(workflow, its job's steps, index of a pulumi/actions preview or up step)."""
    found = []
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            steps = job.get("steps", [])
            for i, step in enumerate(steps):
                uses, command = step.get("uses", ""), (step.get("with") or {}).get("command")
                if uses.startswith("pulumi/actions@") and command in ("preview", "up"):
                    found.append((workflow.name, steps, i))
    return found


def test_previews_and_updates_run_the_policy_pack_in_its_virtualenv():
    steps = _pulumi_steps()
    assert {(name, s[i]["with"]["command"]) for name, s, i in steps} == {
        ("pull-request.yml", "preview"),
        ("deploy.yml", "up"),
    }
    for name, job_steps, i in steps:
        assert job_steps[i]["with"].get("policyPacks") == "policy", name
        # The pack's virtualenv (PulumiPolicy.yaml: virtualenv venv) is built before.
        before = "\n".join(s.get("run", "") for s in job_steps[:i])
        assert "-m venv policy/venv" in before, name
        assert "policy/venv/bin/pip install" in before and "-r policy/requirements.txt" in before
    assert "virtualenv: venv" in (ROOT / "policy" / "PulumiPolicy.yaml").read_text()
