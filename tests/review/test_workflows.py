"""The GitHub workflows parse, and every `edgectl` command and flag they use exists."""

from __future__ import annotations

import argparse
import re

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


def test_the_three_workflows_exist():
    assert [w.name for w in WORKFLOWS] == ["deploy.yml", "promote.yml", "pull-request.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
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
