"""The Rollout provider through the Pulumi SDK's provider host, against the emulator's Remote
Config: only its parameter and conditions change, concurrent edits are kept, drift shows.

The publications' display names are given as the graph's Refs would resolve them; the whole
pipeline (trained, gated, exported, published models) is tests/providers/test_rollout_pipeline.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from components.cloud.clients import CloudTarget
from components.cloud.remote_config import (
    Condition,
    Parameter,
    ParameterValue,
    RemoteConfigClient,
    Template,
)
from components.cloud.retry import RETRY_ENV
from components.providers.rollout import RolloutProvider, rollout_inputs
from components.spec import Rollout, RolloutCondition
from components.spec.errors import Location
from tests.fixtures.emulator import arm_fault, clear_faults, patched_environ, wait_until_held
from tests.fixtures.provider_host import ProviderCallError, ProviderHost

GET = "firebaseremoteconfig.projects.getRemoteConfig"


@pytest.fixture(scope="module")
def host(emulator, tmp_path_factory) -> Any:
    with (
        patched_environ({RETRY_ENV: "initial=0.01,maximum=0.05,deadline=30"}),
        ProviderHost(cwd=tmp_path_factory.mktemp("rollout")) as h,
    ):
        h.configure({})
        yield h


@pytest.fixture
def target(emulator) -> CloudTarget:
    return CloudTarget(stack="local", project=f"ro-{uuid.uuid4().hex[:12]}", emulator=True)


def spec(percent: float = 10, *conditions: RolloutCondition) -> Rollout:
    candidate = RolloutCondition(
        name="candidate",
        publication="candidate",
        percent=percent,
        seed="digits_model",
        app_id=None,
        app_versions=(),
        min_app_version=None,
        countries=(),
    )
    return Rollout(
        name="digits",
        origin=Location("specs/rollout.yaml", 1, 1),
        spec={},
        locations={},
        parameter="digits_model",
        description="the model the app downloads",
        group=None,
        publication="digits",
        conditions=(candidate, *conditions),
    )


NAMES = {"digits": "digits_v1", "candidate": "digits_v2", "canada": "digits_ca"}


def props(host: ProviderHost, target: CloudTarget, rollout: Rollout) -> dict[str, Any]:
    inputs = rollout_inputs(rollout, target, dict(NAMES))
    return host.inputs(RolloutProvider(), inputs)


def urn(host: ProviderHost) -> str:
    return host.urn("edge-labeler:Rollout", "digits-rollout")


def someone_elses(client: RemoteConfigClient) -> Template:
    """Someone publishes their own parameter and condition (as from the console)."""
    current = client.get()
    parameters = dict(current.parameters)
    parameters["welcome"] = Parameter(
        ParameterValue("hello"), {"ios": ParameterValue("hi")}, "greeting"
    )
    return client.publish(
        Template(
            conditions=(*current.conditions, Condition("ios", "device.os == 'ios'", "BLUE")),
            parameters=parameters,
            parameter_groups=current.parameter_groups,
            etag=current.etag,
        )
    )


def welcome(template: Template) -> str:
    return json.dumps(template.parameters["welcome"].to_json(), sort_keys=True)


def create(host: ProviderHost, target: CloudTarget, rollout: Rollout) -> tuple[str, dict]:
    inputs, failures = host.check(urn(host), props(host, target, rollout))
    assert failures == []
    return host.create(urn(host), inputs)


def test_create_changes_only_its_parameter_and_a_second_pass_nothing(host, target):
    client = RemoteConfigClient(target)
    before = someone_elses(client)
    id_, outs = create(host, target, spec())
    template = client.get()
    assert int(outs["templateVersion"]) == template.version_number == before.version_number + 1
    assert welcome(template) == welcome(before)
    assert [c.name for c in template.conditions] == ["ios", "candidate"]
    model = template.parameters["digits_model"]
    assert model.default_value.value == "digits_v1"
    assert model.conditional_values["candidate"].value == "digits_v2"
    assert template.conditions[1].expression == "percent('digits_model') <= 10"
    assert template.version.description == "edge-labeler: apply Rollout 'digits' (stack local)"

    news, _ = host.check(urn(host), props(host, target, spec()), outs)
    assert host.diff(urn(host), id_, outs, news).changes is False
    again = host.update(urn(host), id_, outs, news)  # even when called: nothing published
    assert int(again["templateVersion"]) == client.get().version_number == template.version_number


def test_an_update_keeps_what_others_published_meanwhile(host, target):
    client = RemoteConfigClient(target)
    id_, outs = create(host, target, spec())
    edited = someone_elses(client)
    news, _ = host.check(urn(host), props(host, target, spec(20)), outs)
    outcome = host.diff(urn(host), id_, outs, news)
    assert outcome.changes is True and not outcome.replace
    outs = host.update(urn(host), id_, outs, news)
    template = client.get()
    assert welcome(template) == welcome(edited)
    assert [c.name for c in template.conditions] == ["candidate", "ios"]
    assert template.conditions[0].expression == "percent('digits_model') <= 20"
    assert int(outs["templateVersion"]) == template.version_number


def test_a_stale_etag_is_read_again_and_the_concurrent_change_kept(host, target, emulator):
    client = RemoteConfigClient(target)
    id_, outs = create(host, target, spec())
    env = emulator.env
    news, _ = host.check(urn(host), props(host, target, spec(30)), outs)
    snapshot = client.get()
    # The provider's read is answered, then held (every read is, while the fault is armed):
    # meanwhile someone publishes, without reading.
    arm_fault(env, GET, "HOLD", count=1, after=True)
    done: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: done.update(outs=host.update(urn(host), id_, outs, news))
    )
    worker.start()
    try:
        wait_until_held(env, GET)
        forced = Template(
            conditions=snapshot.conditions,
            parameters={**snapshot.parameters, "late": Parameter(ParameterValue("yes"))},
        )
        concurrent = client.publish(forced, force=True)
    finally:
        clear_faults(env, GET)
        worker.join(timeout=120)
    assert "outs" in done
    template = client.get()
    assert template.version_number == concurrent.version_number + 1
    assert template.parameters["late"].default_value.value == "yes"
    assert template.conditions[0].expression == "percent('digits_model') <= 30"
    assert any("reading it again, their change is kept" in line for line in host.output)


def test_refresh_shows_drift_and_the_update_puts_it_back(host, target):
    client = RemoteConfigClient(target)
    id_, outs = create(host, target, spec())
    current = client.get()
    parameters = dict(current.parameters)
    parameters["digits_model"] = Parameter(ParameterValue("hand_picked"), {}, "edited by hand")
    client.publish(Template(current.conditions, parameters, etag=current.etag))
    _, live = host.read(urn(host), id_, outs)
    assert live["value"] == "hand_picked" and live.get("conditions") in (None, [])
    news, _ = host.check(urn(host), props(host, target, spec()), live)
    assert host.diff(urn(host), id_, live, news).changes is True
    host.update(urn(host), id_, live, news)
    assert client.get().parameters["digits_model"].default_value.value == "digits_v1"


def test_a_condition_another_parameter_uses_fails_the_deployment_with_one_message(host, target):
    client = RemoteConfigClient(target)
    current = client.get()
    client.publish(
        Template(
            conditions=(Condition("candidate", "device.os == 'android'"),),
            parameters={
                "theme": Parameter(ParameterValue("x"), {"candidate": ParameterValue("y")})
            },
            etag=current.etag,
        )
    )
    before = client.get().version_number
    inputs, _ = host.check(urn(host), props(host, target, spec()))
    with pytest.raises(ProviderCallError) as info:
        host.create(urn(host), inputs)
    message = info.value.details
    assert message.startswith("Rollout 'digits_model': the template already has a condition")
    assert "parameter(s) theme use" in message and "Traceback" not in message
    assert client.get().version_number == before  # nothing published


def test_delete_removes_only_its_parameter_and_unshared_conditions(host, target):
    client = RemoteConfigClient(target)
    canada = RolloutCondition(
        name="canada",
        publication="canada",
        percent=None,
        seed="digits_model",
        app_id=None,
        app_versions=(),
        min_app_version=None,
        countries=("ca",),
    )
    id_, outs = create(host, target, spec(10, canada))
    someone_elses(client)
    current = client.get()
    parameters = dict(current.parameters)
    parameters["welcome"] = Parameter(
        ParameterValue("hello"), {"ios": ParameterValue("hi"), "canada": ParameterValue("eh")}
    )
    kept = client.publish(Template(current.conditions, parameters, etag=current.etag))
    host.delete(urn(host), id_, outs)
    template = client.get()
    assert "digits_model" not in template.parameters
    assert [c.name for c in template.conditions] == ["canada", "ios"]  # canada: welcome uses it
    assert welcome(template) == welcome(kept)
    host.delete(urn(host), id_, outs)  # already gone: nothing to do, no error
    assert client.get().version_number == template.version_number
