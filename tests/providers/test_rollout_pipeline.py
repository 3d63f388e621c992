"""A Rollout end to end on the emulator, through the Pulumi SDK's provider host: two models
trained, gated, exported and published, then a Remote Config parameter serving the second to
10 % of users. A second pass changes nothing; another parameter published out of band survives
the next reconcile; a publish that meets a stale ETag reads again and keeps the concurrent
change; deleting the Rollout leaves everything else of the template and both publications.

Training is real and tiny: 1 node hour is 40 epochs of 48 images (the epoch budget, so the same
models on any machine); the two models differ by their seed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from components.cli import main
from components.cloud.adapters import open_registry
from components.cloud.clients import CloudTarget
from components.cloud.remote_config import (
    Condition,
    Parameter,
    ParameterValue,
    RemoteConfigClient,
    Template,
)
from components.cloud.retry import RETRY_ENV
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.deployment import Stack, deployed_stack
from tests.fixtures.digits import digit_images, write_zip
from tests.fixtures.emulator import (
    LOCATION,
    arm_fault,
    clear_faults,
    patched_environ,
    wait_until_held,
)
from tests.fixtures.provider_host import ProviderHost
from tests.fixtures.trainings import training_operations
from tests.providers.conftest import SPECS as DATASET_SPECS

STATUS_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "components" / "schemas" / "status.schema.json").read_text()
)
PROJECT = "rollout-e2e"
TARGET = CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)
BUCKET = f"{PROJECT}-data"
GET = "firebaseremoteconfig.projects.getRemoteConfig"
STACK_FILE = f"""\
config:
  edge-labeler:project: {PROJECT}
  edge-labeler:emulator: "true"
  edge-labeler:registry: firebase_ml
"""
MODEL = """\
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {{name: {name}}}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {{nodeHours: 1}}
  seed: {seed}
  acceptance:
    threshold: {{maximize: f1}}
    minPrecision: 0.3
---
apiVersion: edge-labeler/v1
kind: Publication
metadata: {{name: {name}}}
spec:
  model: {name}
  target: firebase-ml
  displayName: {display}
"""
SPECS = (
    DATASET_SPECS.format(dataset="digits", zip="data/digits.zip")
    + MODEL.format(name="digits", seed=0, display="digits_v1")
    + MODEL.format(name="digits-next", seed=1, display="digits_v2")
    + """\
---
apiVersion: edge-labeler/v1
kind: Rollout
metadata: {name: digits}
spec:
  parameter: digits_model
  description: the model the app downloads
  publication: digits
  conditions:
    - {name: candidate, publication: digits-next, percent: PERCENT}
"""
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rollout-e2e") / "project"
    (root / "specs").mkdir(parents=True)
    write_zip(root / "specs" / "data" / "digits.zip", digit_images(20, ("zero", "one", "two")))
    (root / "Pulumi.yaml").write_text("name: edge-labeler\nruntime: python\n")
    (root / "Pulumi.local.yaml").write_text(STACK_FILE)
    set_percent(root, 10)
    return root


def set_percent(root: Path, percent: float) -> None:
    """The Rollout's spec as a pull request would change it."""
    (root / "specs" / "all.yaml").write_text(SPECS.replace("PERCENT", f"{percent:g}"))


@pytest.fixture(scope="module")
def host(project: Path, emulator) -> Iterator[ProviderHost]:
    environ = {EPOCHS_PER_NODE_HOUR_ENV: "40", RETRY_ENV: "initial=0.01,maximum=0.05,deadline=30"}
    with patched_environ(environ), ProviderHost(cwd=project) as h:
        h.configure({})
        yield h


@pytest.fixture(scope="module")
def stack(host: ProviderHost, project: Path) -> Stack:
    """`pulumi up` of the `local` stack: two trainings, two publications, the rollout."""
    return deployed_stack(host, project, "local")


def someone_publishes(client: RemoteConfigClient, key: str, value: str) -> Template:
    """Another team's parameter and condition, published from the console."""
    current = client.get()
    parameters = {
        **current.parameters,
        key: Parameter(ParameterValue(value), {"ios": ParameterValue(f"{value}-ios")}),
    }
    conditions = current.conditions
    if "ios" not in {c.name for c in conditions}:
        conditions = (*conditions, Condition("ios", "device.os == 'ios'"))
    return client.publish(
        Template(conditions, parameters, current.parameter_groups, etag=current.etag)
    )


def served(template: Template) -> tuple[str | None, dict[str, str | None], dict[str, str]]:
    """digits_model's default, its conditional values and the conditions' expressions."""
    parameter = template.parameters["digits_model"]
    return (
        parameter.default_value.value if parameter.default_value else None,
        {name: value.value for name, value in parameter.conditional_values.items()},
        {c.name: c.expression for c in template.conditions},
    )


def test_two_models_published_and_10_percent_of_users_get_the_second(stack, capsys):
    assert len(training_operations(TARGET)) == 2  # one per model: their seeds differ
    first, second = stack.outputs["digits-model"], stack.outputs["digits-next-model"]
    assert first["fingerprint"] != second["fingerprint"]
    registry = open_registry("firebase-ml", TARGET, BUCKET)
    for display, export in [("digits_v1", "digits-export"), ("digits_v2", "digits-next-export")]:
        live = registry.read(display)
        assert live is not None and live.published
        assert live.sha256 == stack.outputs[export]["modelSha256"]

    template = RemoteConfigClient(TARGET).get()
    default, conditional, expressions = served(template)
    assert (default, conditional) == ("digits_v1", {"candidate": "digits_v2"})
    assert expressions["candidate"] == "percent('digits_model') <= 10"
    assert stack.outputs["digits-rollout"]["templateVersion"] == template.version_number

    # `edgectl status` shows it: who gets which model, both models trained here, no drift.
    assert main(["status", "--project-dir", str(stack.root)]) == 0
    text = capsys.readouterr().out
    assert "Rollout digits (Remote Config parameter digits_model, template version" in text
    assert "     10 % digits_v2: candidate\n" in text
    assert "     90 % digits_v1: default\n" in text
    assert text.count(": trained on this stack\n") == 2 and "drift: none" in text
    assert main(["status", "--project-dir", str(stack.root), "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    Draft202012Validator(STATUS_SCHEMA).validate([entry])
    (rollout,) = entry["rollouts"]
    assert [
        (s["condition"], s["serves"], s["publication"], s["percent"]) for s in rollout["shares"]
    ] == [
        ("candidate", "digits_v2", "digits-next", 10),
        (None, "digits_v1", "digits", 90),
    ]


def test_a_second_pass_changes_nothing(stack):
    version = RemoteConfigClient(TARGET).get().version_number
    trainings = len(training_operations(TARGET))
    assert stack.reconcile() == {}
    assert RemoteConfigClient(TARGET).get().version_number == version
    assert len(training_operations(TARGET)) == trainings


def test_another_parameter_published_out_of_band_survives_the_next_reconcile(stack, project):
    client = RemoteConfigClient(TARGET)
    edited = someone_publishes(client, "welcome", "hello")
    assert stack.reconcile() == {}  # someone else's parameter is no change of this stack
    assert client.get().version_number == edited.version_number

    set_percent(project, 20)  # the next pull request: 20 % of users get the candidate
    changed = stack.reconcile()
    assert list(changed) == ["digits-rollout"] and not changed["digits-rollout"].replace
    template = client.get()
    assert template.version_number == edited.version_number + 1
    assert template.parameters["welcome"] == edited.parameters["welcome"]
    assert [c.name for c in template.conditions] == ["candidate", "ios"]
    assert served(template)[2]["candidate"] == "percent('digits_model') <= 20"


def test_a_stale_etag_is_read_again_and_the_concurrent_change_kept(stack, project, emulator):
    client = RemoteConfigClient(TARGET)
    snapshot = client.get()
    set_percent(project, 30)
    # The Rollout's read of the template is answered, then held (every read is, while the
    # fault is armed): meanwhile another team publishes without reading, so the ETag the
    # provider read is stale when it publishes.
    arm_fault(emulator.env, GET, "HOLD", count=1, after=True)
    done: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: done.update(changed=stack.reconcile()))
    worker.start()
    try:
        wait_until_held(emulator.env, GET)
        late = {**snapshot.parameters, "late": Parameter(ParameterValue("yes"))}
        forced = Template(snapshot.conditions, late, snapshot.parameter_groups)
        concurrent = client.publish(forced, force=True)
    finally:
        clear_faults(emulator.env, GET)
        worker.join(timeout=600)
    assert list(done["changed"]) == ["digits-rollout"]
    template = client.get()
    assert template.version_number == concurrent.version_number + 1
    assert template.parameters["late"].default_value == ParameterValue("yes")
    assert template.parameters["welcome"].default_value == ParameterValue("hello")
    assert served(template)[2]["candidate"] == "percent('digits_model') <= 30"
    assert any("reading it again, their change is kept" in line for line in stack.host.output)
    assert stack.reconcile() == {}


def test_deleting_the_rollout_leaves_other_parameters_and_the_publications(stack, capsys):
    client = RemoteConfigClient(TARGET)
    before = client.get()
    stack.delete("digits-rollout")
    template = client.get()
    assert "digits_model" not in template.parameters
    assert {"welcome", "late"} <= set(template.parameters)
    assert template.parameters["welcome"] == before.parameters["welcome"]
    assert [c.name for c in template.conditions] == ["ios"]  # candidate was the rollout's only
    registry = open_registry("firebase-ml", TARGET, BUCKET)
    for display in ("digits_v1", "digits_v2"):
        live = registry.read(display)
        assert live is not None and live.published
    # The spec still declares it: status calls the missing parameter drift.
    assert main(["status", "--project-dir", str(stack.root)]) == 1
    assert (
        "Rollout digits: parameter digits_model is not in the Remote Config template"
        in capsys.readouterr().out
    )
