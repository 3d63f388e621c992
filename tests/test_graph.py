"""The resource graph is the one description every reader takes: a kind added to it reaches
the Pulumi program, the review's plan and the rehearsal's order with no change of theirs."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from components.graph import build_graph
from components.review.changes import resource_change
from components.review.plan import Checker, Computed, plan_stack
from components.spec import Budget, load_specs, load_stack_config
from tests.fixtures.toy_kind import KINDS
from tests.program.run_program import program_result

ROOT = Path(__file__).resolve().parents[1]
DYNAMIC = "pulumi-python:dynamic/edge-labeler:"
PROGRAM = """\
from components.resources import build, load_stack
from tests.fixtures.toy_kind import KINDS
from tests.program.run_program import program_result

build(*load_stack(), kinds=KINDS)
"""


@pytest.fixture(scope="module")
def local():
    config = load_stack_config("local", ROOT)
    return load_specs(ROOT / config.specs, "local"), config


def test_nodes_are_found_by_document_and_role(local):
    graph = build_graph(*local, ROOT)
    names = [n.name for n in graph.nodes]
    assert names == [
        "ml-data-bucket",
        "digits-dataset",
        "digits-model",
        "digits-gate",
        "digits-export",
        "digits-publication",
    ]
    gate = graph.node(("Model", "digits"), "gate")
    assert gate is not None and gate.type == "AcceptanceGate"
    assert gate.dependencies() == {"ml-data-bucket", "digits-model"}
    publication = graph.node(("Publication", "digits"), "publication")
    assert publication is not None
    assert publication.dependencies() == {
        "ml-data-bucket",
        "digits-model",
        "digits-gate",
        "digits-export",
    }
    assert graph.node(("Model", "digits"), "promoted") is None


def test_a_toy_kind_reaches_the_program_through_the_graph_only(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    result = program_result("local", ROOT, program)
    assert result["error"] is None
    by_name = {r["name"]: r for r in result["resources"]}
    card = by_name["digits-card"]
    assert card["type"] == DYNAMIC + "ModelCard"
    model = next(r for r in result["resources"] if r["type"] == "edge-labeler:index:Model")
    assert card["parent"] == model["urn"]  # under the Model's component
    assert set(card["dependencies"]) >= {
        by_name["digits-export"]["urn"],
        by_name["digits-gate"]["urn"],
    }
    assert card["inputs"]["bucket"] == "local-project-ml-data"


def test_a_toy_kind_reaches_the_plan_and_the_review_through_the_graph_only(local):
    specs, config = local
    plan = plan_stack(specs, config, ROOT, Checker(), KINDS)
    card = plan.resources[("ModelCard", "digits-card")]
    assert card.inputs["bucket"] == "local-project-ml-data"
    assert isinstance(card.inputs["modelSha256"], Computed)
    assert plan.graph is not None
    order = [n.name for n in plan.graph.nodes]
    assert order.index("digits-card") > order.index("digits-export")
    # A retraining changes the exported file: the card is updated with it.
    model = replace(specs.models["digits"], budget=Budget(node_hours=2))
    specs2 = replace(specs, models={"digits": model})
    head = plan_stack(specs2, config, ROOT, Checker(), KINDS)
    change = resource_change(card, head.resources[("ModelCard", "digits-card")])
    assert change is not None and change.action == "update"
    assert [f.field for f in change.fields] == ["modelSha256", "threshold"]


ROLLOUT = """\
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {name: candidate}
spec: {model: digits, target: storage, displayName: digits_candidate}
---
apiVersion: edge-labeler/v1
kind: Rollout
metadata: {name: digits}
spec:
  parameter: digits_model
  publication: digits
  conditions:
    - {name: candidate_10, publication: candidate, percent: 10}
"""


def test_a_rollout_is_declared_after_the_publications_it_serves(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "specs", project / "specs")
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, project / name)
    with (project / "specs" / "digits.yaml").open("a") as specs:
        specs.write(ROLLOUT)
    result = program_result("local", project)
    assert result["error"] is None
    by_name = {r["name"]: r for r in result["resources"]}
    rollout = by_name["digits-rollout"]
    assert rollout["type"] == DYNAMIC + "Rollout"
    assert set(rollout["dependencies"]) == {
        by_name["digits-publication"]["urn"],
        by_name["candidate-publication"]["urn"],
    }
    inputs = rollout["inputs"]
    # The display names are the publications' outputs: known once they are published.
    assert (inputs["value"], inputs["conditions"][0]["value"]) == (
        "digits_classifier",
        "digits_candidate",
    )
    assert inputs["conditions"][0]["expression"] == "percent('digits_model') <= 10"
    assert inputs["cloud"] == {"stack": "local", "project": "local-project", "emulator": True}
    # prod protects what apps are served, as it does its publications.
    prod = {r["name"]: r for r in program_result("prod", project)["resources"]}
    assert prod["digits-rollout"]["protect"] is True
