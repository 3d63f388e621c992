"""components/cloud/remote_config.py against the emulator: what a Rollout provider relies on.

Reads and publishes with ETags, the typed 412, retries of transient errors (and of answers lost
after the change was made), and the endpoint wiring of components/cloud/clients.py.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from components.cloud.clients import (
    FIREBASE_ML_ENV,
    REMOTE_CONFIG_API,
    REMOTE_CONFIG_ENV,
    CloudTarget,
    remote_config_endpoint,
)
from components.cloud.errors import CloudError, CloudNotFound
from components.cloud.remote_config import (
    Condition,
    EtagMismatch,
    Parameter,
    ParameterGroup,
    ParameterValue,
    RemoteConfigClient,
    Template,
    TemplateRejected,
)
from components.cloud.retry import RETRY_ENV
from tests.fixtures.calls import recorded_calls
from tests.fixtures.emulator import arm_fault, clear_faults

GET = "firebaseremoteconfig.projects.getRemoteConfig"
PUT = "firebaseremoteconfig.projects.updateRemoteConfig"
ROLLBACK = "firebaseremoteconfig.projects.remoteConfig.rollback"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv(RETRY_ENV, "initial=0.01,maximum=0.05,deadline=30")


@pytest.fixture
def target(emulator) -> CloudTarget:
    return CloudTarget(stack="local", project=f"rc-{uuid.uuid4().hex[:12]}", emulator=True)


@pytest.fixture
def client(target) -> RemoteConfigClient:
    return RemoteConfigClient(target)


def _rollout(template: Template, model: str, candidate: str, percent: int = 10) -> Template:
    """The template with a `model` parameter served as `candidate` to `percent` % of users."""
    conditions = tuple(c for c in template.conditions if c.name != "model_candidates")
    parameters = dict(template.parameters)
    parameters["model"] = Parameter(
        default_value=ParameterValue(model),
        conditional_values={"model_candidates": ParameterValue(candidate)},
        description="which published model the app downloads",
        value_type="STRING",
    )
    return Template(
        conditions=(
            Condition("model_candidates", f"percent('model') <= {percent}", "GREEN"),
            *conditions,
        ),
        parameters=parameters,
        parameter_groups=template.parameter_groups,
        etag=template.etag,
        version=template.version,
    )


def test_get_of_a_new_project_is_an_empty_template_at_version_0(client):
    template = client.get()
    assert template.conditions == () and not template.parameters
    assert template.etag.endswith("-0")
    assert template.version_number == 0


def test_publish_then_get_round_trips_conditions_parameters_and_groups(client):
    base = client.get()
    desired = _rollout(base, "flowers_v1", "flowers_v2")
    desired = Template(
        conditions=desired.conditions,
        parameters=desired.parameters,
        parameter_groups={
            "gate": ParameterGroup(
                "the acceptance gate's threshold",
                {"threshold": Parameter(ParameterValue("0.55"), value_type="NUMBER")},
            ),
            "legacy": ParameterGroup(
                parameters={"banner": Parameter(ParameterValue(use_in_app_default=True))}
            ),
        },
        etag=base.etag,
    )
    published = client.publish(desired, description="roll out flowers_v2 to 10 %")
    assert published.version is not None
    assert published.version.number == 1
    assert published.version.update_type == "INCREMENTAL_UPDATE"
    assert published.version.description == "roll out flowers_v2 to 10 %"
    assert published.version.update_time is not None
    assert published.etag.endswith("-1")
    assert published.content_json() == desired.content_json()
    read = client.get()
    assert read.content_json() == desired.content_json()
    assert read.etag == published.etag and read.version == published.version


def test_a_template_changed_since_it_was_read_raises_etag_mismatch_and_a_reread_succeeds(
    client,
):
    first = client.get()
    client.publish(_rollout(first, "a", "b"))  # someone else's change
    with pytest.raises(EtagMismatch, match=r"VERSION_MISMATCH.*read it again"):
        client.publish(_rollout(first, "a", "c"))
    assert client.get().parameters["model"].conditional_values["model_candidates"].value == "b"

    again = client.publish(_rollout(client.get(), "a", "c"))
    assert again.version_number == 2


def test_publish_needs_an_etag_unless_forced(client):
    with pytest.raises(CloudError, match="no ETag"):
        client.publish(_rollout(Template(), "a", "b"))
    forced = client.publish(_rollout(Template(), "a", "b"), force=True)
    assert forced.version is not None and forced.version.update_type == "FORCED_UPDATE"


def test_validate_publishes_nothing_and_keeps_the_etag_it_was_given(client):
    base = client.get()
    checked = client.validate(_rollout(base, "a", "b"), description="dry run")
    assert checked.etag == base.etag  # the service's `-0` ETag would never publish
    assert checked.parameters["model"].default_value == ParameterValue("a")
    assert client.get().etag == base.etag
    client.publish(checked)  # and the validated template publishes


def test_a_refused_template_raises_template_rejected_and_is_not_retried(client, emulator):
    base = client.get()
    broken = Template(
        conditions=(Condition("c", "device.country == 'us'"),),
        etag=base.etag,
    )
    with recorded_calls(emulator) as calls, pytest.raises(TemplateRejected, match="expected 'in'"):
        client.validate(broken)
    assert calls.count(PUT) == 1
    unknown = Template(
        parameters={"m": Parameter(conditional_values={"nope": ParameterValue("x")})},
        etag=base.etag,
    )
    with pytest.raises(TemplateRejected, match=r"\[nope\] are not valid condition names"):
        client.publish(unknown)
    assert client.get().etag == base.etag


def test_other_refusals_are_cloud_errors_not_template_rejections(client):
    with pytest.raises(CloudError) as refused:
        client.get(version_number=0)
    assert not isinstance(refused.value, TemplateRejected)
    assert "versionNumber 0" in str(refused.value)


def test_transient_errors_are_retried(client, emulator):
    arm_fault(emulator.env, GET, "UNAVAILABLE", count=2)
    try:
        with recorded_calls(emulator) as calls:
            assert client.get().etag.endswith("-0")
        assert calls.count(GET) == 3
    finally:
        clear_faults(emulator.env)


def test_a_publish_whose_answer_was_lost_is_not_published_twice(client, emulator):
    base = client.get()
    desired = _rollout(base, "a", "b")
    arm_fault(emulator.env, PUT, "UNAVAILABLE", after=True)  # published, then the answer fails
    try:
        with recorded_calls(emulator) as calls:
            published = client.publish(desired, description="once")
        assert calls.count(PUT) == 1  # the re-read found it published: no retry, no 412
    finally:
        clear_faults(emulator.env)
    assert published.version_number == 1
    assert published.content_json() == desired.content_json()
    assert [v.number for v in client.list_versions()] == [1]


def test_a_publish_that_failed_before_it_was_made_is_retried(client, emulator):
    base = client.get()
    arm_fault(emulator.env, PUT, "UNAVAILABLE")  # refused before anything was done
    try:
        published = client.publish(_rollout(base, "a", "b"))
    finally:
        clear_faults(emulator.env)
    assert published.version_number == 1


def test_list_versions_reads_every_page_newest_first_within_bounds(client):
    template = client.get()
    for n in range(5):
        template = client.publish(_rollout(template, "m", f"c{n}"), description=f"v{n + 1}")
    versions = client.list_versions(page_size=2)
    assert [v.number for v in versions] == [5, 4, 3, 2, 1]
    assert versions[0].description == "v5" and versions[0].update_type == "INCREMENTAL_UPDATE"
    assert [v.number for v in client.list_versions(end_version_number=3)] == [3, 2, 1]
    third = versions[2].update_time
    assert third is not None
    assert [v.number for v in client.list_versions(start_time=third)] == [5, 4, 3]
    assert [v.number for v in client.list_versions(end_time=third)] == [2, 1]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert client.list_versions(start_time=later) == []


def test_rollback_publishes_a_stored_version_again(client):
    template = client.get()
    first = client.publish(_rollout(template, "m", "v1"))
    client.publish(_rollout(first, "m", "v2"))
    rolled = client.rollback(1)
    assert rolled.version is not None
    assert rolled.version.number == 3
    assert rolled.version.update_type == "ROLLBACK"
    assert rolled.version.rollback_source == 1
    assert rolled.content_json() == first.content_json()
    assert client.get(version_number=1).content_json() == first.content_json()
    with pytest.raises(CloudNotFound):
        client.rollback(42)
    with pytest.raises(CloudNotFound):
        client.get(version_number=42)


def test_a_rollback_whose_answer_was_lost_is_not_repeated(client, emulator):
    template = client.get()
    first = client.publish(_rollout(template, "m", "v1"))
    client.publish(_rollout(first, "m", "v2"))
    arm_fault(emulator.env, ROLLBACK, "UNAVAILABLE", after=True)
    try:
        with recorded_calls(emulator) as calls:
            rolled = client.rollback(1)
        assert calls.count(ROLLBACK) == 1
    finally:
        clear_faults(emulator.env)
    assert rolled.version is not None and rolled.version.rollback_source == 1
    assert [v.update_type for v in client.list_versions()] == [
        "ROLLBACK",
        "INCREMENTAL_UPDATE",
        "INCREMENTAL_UPDATE",
    ]


def test_the_server_namespace_is_its_own_template(target):
    server = RemoteConfigClient(target, "firebase-server")
    published = server.publish(_rollout(server.get(), "s", "t"))
    assert published.version_number == 1
    assert RemoteConfigClient(target).get().version_number == 0


def test_values_managed_by_other_products_are_kept_as_read():
    managed = {"rolloutValue": {"rolloutId": "rollout_1", "value": "x", "percent": 5}}
    data = {
        "conditions": [{"name": "c", "expression": "true"}],
        "parameters": {
            "p": {"defaultValue": {"value": "a"}, "conditionalValues": {"c": managed}},
        },
    }
    template = Template.from_json(data, "etag-1-1")
    assert template.parameters["p"].conditional_values["c"].managed == managed
    assert template.content_json()["parameters"] == data["parameters"]
    assert template.version_number == 1  # from the ETag


# ---- endpoint wiring (components/cloud/clients.py) ------------------------------------------


def test_emulator_stacks_use_the_emulators_rest_server(emulator, monkeypatch):
    target = CloudTarget(stack="local", project="p", emulator=True)
    monkeypatch.delenv(REMOTE_CONFIG_ENV, raising=False)
    assert remote_config_endpoint(target)[0] == emulator.env[FIREBASE_ML_ENV]
    monkeypatch.setenv(REMOTE_CONFIG_ENV, "http://127.0.0.1:9/")
    assert remote_config_endpoint(target)[0] == "http://127.0.0.1:9"
    monkeypatch.delenv(FIREBASE_ML_ENV)
    monkeypatch.delenv(REMOTE_CONFIG_ENV)
    with pytest.raises(CloudError, match=FIREBASE_ML_ENV):
        remote_config_endpoint(target)


def test_google_stacks_refuse_an_emulator_endpoint_and_use_google(monkeypatch, tmp_path):
    target = CloudTarget(stack="prod", project="p")
    monkeypatch.setenv(REMOTE_CONFIG_ENV, "http://127.0.0.1:9")
    with pytest.raises(CloudError, match="Google Cloud stack"):
        remote_config_endpoint(target)
    monkeypatch.delenv(REMOTE_CONFIG_ENV)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(CloudError, match="Remote Config"):
        remote_config_endpoint(target)
    assert REMOTE_CONFIG_API == "https://firebaseremoteconfig.googleapis.com"
