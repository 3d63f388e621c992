"""The review's plan declares what the program declares (so the two cannot drift apart)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.review.plan import Checker, Computed, plan_stack
from components.spec import load_specs, load_stack_config
from tests.program.run_program import ROOT
from tests.program.test_program import DYNAMIC, declared

PLACEHOLDER = re.compile(r"^<[^>]+>$")


def _mismatches(path: str, program: Any, plan: Any) -> list[str]:
    """Where the plan's input differs from the program's (unknowns on either side match)."""
    if isinstance(plan, Computed) or (isinstance(program, str) and PLACEHOLDER.match(program)):
        return []
    if isinstance(program, dict) and isinstance(plan, dict):
        return [
            m
            for key, value in program.items()
            for m in _mismatches(f"{path}.{key}", value, plan.get(key))
        ]
    if program != plan:
        return [f"{path}: program {program!r}, plan {plan!r}"]
    return []


@pytest.mark.parametrize("stack", ["local", "prod"])
def test_plan_matches_the_program(stack):
    config = load_stack_config(stack, ROOT)
    specs = load_specs(ROOT / config.specs, stack)
    plan = plan_stack(specs, config, Path(ROOT), Checker())
    assert plan.errors == ()
    program = {
        (type_.removeprefix(DYNAMIC), name): r
        for (type_, name), r in declared(stack).items()
        if type_.startswith(DYNAMIC)
    }
    # GCP stacks declare pulumi_gcp buckets (not dynamic); the plan uses the same inputs.
    planned = {key for key in plan.resources if key[0] != "Bucket" or config.emulator}
    assert set(program) == planned
    problems = [
        m
        for key, resource in program.items()
        for m in _mismatches(
            f"{key[0]} {key[1]}", resource["inputs"], dict(plan.resources[key].inputs)
        )
    ]
    assert problems == []
    # Every input the program sends is one the plan compares.
    for key, resource in program.items():
        assert set(resource["inputs"]) <= set(plan.resources[key].inputs), key
