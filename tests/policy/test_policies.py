"""The policy pack (policy/) on what the program declares, stack by stack.

Each case copies the example project, changes it as a pull request could (an overlay, a stack's
config, the policy config), runs `__main__.py` under mocks (tests/program/run_program.py) and
sends every registered resource to the pack as the Pulumi CLI does (tests/policy/analyzer.py).
A violating change is reported by its policy, against its resource, with its message; the
example specs pass on every stack — prod as `edgectl promote` leaves it, pinned to a model
gated on staging. Run with the pack's policies removed, every violating case fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.promotion.pin import with_pin
from tests.policy.analyzer import Analysis, analyze, stack_config
from tests.program.run_program import ROOT, program_result

FINGERPRINT = "sha256:" + "5e" * 32
POLICIES = {
    "training-budget-cap": "mandatory",
    "production-models-promoted": "mandatory",
    "production-acceptance-floors": "mandatory",
    "protected-publications": "mandatory",
}

# (kind, name) → a JSON merge patch of that document's spec in the stack's overlay.
Patches = Mapping[tuple[str, str], Mapping[str, Any]]


@dataclass(frozen=True)
class Case:
    id: str
    stack: str
    pinned: bool = False  # prod's Model pinned to a model gated on staging (`edgectl promote`)
    overlay: Patches = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)  # Pulumi.<stack>.yaml; None: unset
    policy_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # (policy, resource name, level, fragments its message must hold)
    expected: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()


TRAINED_ON_PROD = (
    "production-models-promoted",
    "digits-model",
    "mandatory",
    (
        "Production stacks promote gated models; they never train one.",
        "Model 'digits' (digits-model) would be trained on stack 'prod', which is production",
        "`edgectl promote --model digits --from staging --to prod`",
    ),
)


def _budget(hours: str, cap: str, stack: str = "prod") -> tuple[str, str, str, tuple[str, ...]]:
    return (
        "training-budget-cap",
        "digits-model",
        "mandatory",
        (
            "A TrainedModel's node-hour budget stays within its stack's cap.",
            f"would train for up to {hours} (budgetMilliNodeHours",
            f"on stack '{stack}', whose cap is {cap}",
        ),
    )


VIOLATIONS = [
    Case(
        "prod budget over cap",
        "prod",
        overlay={("Model", "digits"): {"budget": {"nodeHours": 100}}},
        expected=(
            _budget("100 node hours", "0 node hours: this stack trains nothing"),
            TRAINED_ON_PROD,
        ),
    ),
    Case(
        "dev budget over cap",
        "dev",
        overlay={("Model", "digits"): {"budget": {"nodeHours": 5}}},
        expected=(_budget("5 node hours", "2 node hours", "dev"),),
    ),
    Case(
        # The example as it is before its first promotion: prod would train.
        "prod trained not promoted",
        "prod",
        expected=(_budget("1 node hour", "0 node hours"), TRAINED_ON_PROD),
    ),
    Case(
        "loosened prod gate",
        "prod",
        pinned=True,
        overlay={("Model", "digits"): {"acceptance": {"noWorseThan": None, "minPrecision": 0.8}}},
        expected=(
            (
                "production-acceptance-floors",
                "digits-promoted",
                "mandatory",
                (
                    "Production acceptance keeps `noWorseThan: published`",
                    "Model 'digits' (digits-promoted) on stack 'prod', which is production",
                    "acceptance.noWorseThan is not `published`",
                    "acceptance.minPrecision 0.8 is below the floor 0.9",
                ),
            ),
        ),
    ),
    Case(
        "loosened prod gate, trained",
        "prod",
        overlay={("Model", "digits"): {"acceptance": {"minRecall": 0.5}}},
        expected=(
            _budget("1 node hour", "0 node hours"),
            TRAINED_ON_PROD,
            (
                "production-acceptance-floors",
                "digits-gate",
                "mandatory",
                ("acceptance.minRecall 0.5 is below the floor 0.9",),
            ),
        ),
    ),
    Case(
        # Without `protect` in its config the program protects nothing; prod is production by
        # name (productionStacks).
        "unprotected prod publication",
        "prod",
        pinned=True,
        config={"edge-labeler:protect": None},
        expected=(
            (
                "protected-publications",
                "digits-publication",
                "mandatory",
                (
                    "Publications on production stacks are protected (the `protect` option).",
                    "Publication 'digits' (digits-publication) on stack 'prod', which is "
                    "production (listed in productionStacks), is not protected",
                    'Set `edge-labeler:protect: "true"` in Pulumi.prod.yaml',
                ),
            ),
        ),
    ),
    Case(
        # A stack protected by its own config is production, whatever its name.
        "staging protected by its config trains",
        "staging",
        config={"edge-labeler:protect": "true"},
        expected=(
            (
                "production-models-promoted",
                "digits-model",
                "mandatory",
                ("stack 'staging', which is production (Pulumi.staging.yaml sets edge-labeler:",),
            ),
            (
                "production-acceptance-floors",
                "digits-gate",
                "mandatory",
                ("acceptance.noWorseThan is not `published`",),
            ),
        ),
    ),
    Case(
        "enforcement level configured advisory",
        "prod",
        policy_config={
            "training-budget-cap": {"enforcementLevel": "advisory"},
            "production-models-promoted": {"enforcementLevel": "advisory"},
        },
        expected=(
            (*_budget("1 node hour", "0 node hours")[:2], "advisory", ()),
            (*TRAINED_ON_PROD[:2], "advisory", ()),
        ),
    ),
    Case(
        "production floors configured",
        "prod",
        pinned=True,
        policy_config={"production-acceptance-floors": {"minAuPrc": 0.97, "minPrecision": 0.95}},
        expected=(
            (
                "production-acceptance-floors",
                "digits-promoted",
                "mandatory",
                (
                    "acceptance.minPrecision 0.9 is below the floor 0.95",
                    "acceptance.minAuPrc 0.95 is below the floor 0.97",
                ),
            ),
        ),
    ),
]

PASSING = [
    Case("local example", "local"),
    Case("dev example", "dev"),
    Case("staging example", "staging"),
    Case("prod example, promoted from staging", "prod", pinned=True),
    Case(
        "staging budget at its cap",
        "staging",
        overlay={("Model", "digits"): {"budget": {"nodeHours": 10}}},
    ),
    Case(
        "dev cap raised in the policy config",
        "dev",
        overlay={("Model", "digits"): {"budget": {"nodeHours": 5}}},
        policy_config={"training-budget-cap": {"maxNodeHours": {"dev": 5}}},
    ),
    Case(
        "a policy disabled",
        "prod",
        policy_config={
            "training-budget-cap": {"enforcementLevel": "disabled"},
            "production-models-promoted": {"enforcementLevel": "disabled"},
        },
    ),
]


# -- the example project, changed ---------------------------------------------------------------
def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
    return base


def _patch_overlay(path: Path, patches: Patches) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for (kind, name), patch in patches.items():
        document = next(
            (d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name), None
        )
        if document is None:
            document = {"apiVersion": "edge-labeler/v1", "kind": kind, "metadata": {"name": name}}
            documents.append(document)
        _merge(document.setdefault("spec", {}), patch)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def _patch_config(path: Path, changes: Mapping[str, Any]) -> None:
    document = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            document["config"].pop(key, None)
        else:
            document["config"][key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def project(case: Case, root: Path) -> Path:
    """A copy of the example project with the case's changes, in `root`."""
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "specs", root / "specs")
    overlay = root / "specs" / "envs" / f"{case.stack}.yaml"
    if case.pinned:
        pinned = with_pin(overlay.read_text(), case.stack, "digits", "staging", FINGERPRINT)
        overlay.write_text(pinned)
    if case.overlay:
        _patch_overlay(overlay, case.overlay)
    if case.config:
        _patch_config(root / f"Pulumi.{case.stack}.yaml", case.config)
    return root


_DECLARED: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}


def run(case: Case, base: Path) -> Analysis:
    # Cases that differ only in the policy config share one run of the program.
    key = repr((case.stack, case.pinned, case.overlay, case.config))
    if key not in _DECLARED:
        root = project(case, base / f"project-{len(_DECLARED)}")
        result = program_result(case.stack, root)
        assert result["error"] is None, result["error"]
        _DECLARED[key] = result["resources"], stack_config(case.stack, root)
    resources, config = _DECLARED[key]
    return analyze(resources, case.stack, config, case.policy_config)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policy")


# -- the table ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", VIOLATIONS, ids=lambda c: c.id)
def test_a_violating_change_is_reported_by_its_policy(case: Case, base: Path):
    analysis = run(case, base)
    reported = sorted((d.policy, d.resource, d.level) for d in analysis.diagnostics)
    assert reported == sorted((p, r, level) for p, r, level, _ in case.expected)
    for policy, resource, _, fragments in case.expected:
        (diagnostic,) = [
            d for d in analysis.diagnostics if (d.policy, d.resource) == (policy, resource)
        ]
        for fragment in fragments:
            assert fragment in diagnostic.message, (fragment, diagnostic.message)
    assert analysis.stack_diagnostics == []


@pytest.mark.parametrize("case", PASSING, ids=lambda c: c.id)
def test_the_examples_pass(case: Case, base: Path):
    analysis = run(case, base)
    assert analysis.diagnostics == [] and analysis.stack_diagnostics == []


def test_the_pack_declares_its_policies_mandatory_by_default(base: Path):
    assert run(PASSING[1], base).policies == POLICIES


def test_the_readme_quotes_a_message_as_the_pack_reports_it(base: Path):
    (case,) = [c for c in VIOLATIONS if c.id == "prod trained not promoted"]
    (diagnostic,) = [
        d for d in run(case, base).diagnostics if d.policy == "production-models-promoted"
    ]
    section = (ROOT / "README.md").read_text().split("## Policies", 1)[1].split("\n## ", 1)[0]
    assert f"```text\n{diagnostic.message}\n```" in section
