"""Firebase Remote Config v1 on the emulator, through real HTTP (and firebase-admin where it can).

Each test uses its own project, so the session's emulator is shared. The behaviour and its
sources are in emulator/FIDELITY.md; the client adapter is tested in
tests/cloud/test_remote_config_client.py.
"""

import asyncio
import functools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import firebase_admin
import pytest
from google.auth.credentials import AnonymousCredentials

from emulator import remote_config as remote_config_facade
from emulator.core.remote_config import (
    MAX_CONDITIONS,
    MAX_PARAMETERS,
    Template,
    project_number,
    resolve,
)
from emulator.core.remote_config_conditions import (
    AppInstance,
    evaluate,
    parse_condition,
    user_percentile,
)
from emulator.server import FIREBASE_ML_ENV

ETAG = re.compile(r"etag-[0-9]+-[0-9]+")  # firebase-admin-node's integration test's pattern


def _project() -> str:
    return f"rc-{uuid.uuid4().hex[:12]}"


class Rc:
    """Raw REST calls to one project's Remote Config on an emulator."""

    def __init__(self, env: Mapping[str, str], project: str, namespace: str = "") -> None:
        root = f"{env[FIREBASE_ML_ENV]}/v1/projects/{project}"
        self.base = f"{root}/namespaces/{namespace}" if namespace else root
        self.root = root
        self.project = project

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, lower-case headers, JSON answer)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
                status, answer_headers = response.status, response.headers
        except urllib.error.HTTPError as error:
            text = error.read()
            status, answer_headers = error.code, error.headers
        return status, {k.lower(): v for k, v in answer_headers.items()}, json.loads(text or b"{}")

    def get(self, query: str = "") -> tuple[int, dict[str, str], Any]:
        return self.call("GET", "/remoteConfig" + query)

    def put(
        self, template: Any, if_match: str | None = None, query: str = ""
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"If-Match": if_match} if if_match is not None else {}
        return self.call("PUT", "/remoteConfig" + query, template, headers)

    def publish(self, template: Any) -> tuple[str, Any]:
        """Publishes over the current ETag; (new ETag, answer)."""
        _, headers, _ = self.get()
        status, headers, body = self.put(template, headers["etag"])
        assert status == 200, body
        return headers["etag"], body

    def list_versions(self, query: str = "") -> tuple[int, Any]:
        status, _, body = self.call("GET", "/remoteConfig:listVersions" + query)
        return status, body

    def rollback(self, body: Any) -> tuple[int, dict[str, str], Any]:
        return self.call("POST", "/remoteConfig:rollback", body)


@pytest.fixture
def rc(emulator) -> Rc:
    return Rc(emulator.env, _project())


def _template(description: str = "", **parameters: str) -> dict[str, Any]:
    """A valid template: condition `candidates` (10 %), a parameter per keyword (its default)."""
    doc: dict[str, Any] = {
        "conditions": [{"name": "candidates", "expression": "percent <= 10", "tagColor": "BLUE"}],
        "parameters": {
            key: {
                "defaultValue": {"value": value},
                "conditionalValues": {"candidates": {"value": f"{value}-candidate"}},
                "valueType": "STRING",
            }
            for key, value in (parameters or {"model": "flowers-v1"}).items()
        },
    }
    if description:
        doc["version"] = {"description": description}
    return doc


# ---- get / publish / ETag -------------------------------------------------------------------


def test_a_new_project_has_version_0_an_empty_template_and_an_etag(rc):
    status, headers, body = rc.get()
    assert status == 200
    assert body == {}  # "a template with zero conditions and zero parameters", proto3 JSON
    assert headers["etag"] == f"etag-{project_number(rc.project)}-0"
    assert ETAG.fullmatch(headers["etag"])


def test_publish_with_the_current_etag_creates_the_next_version(rc):
    _, headers, _ = rc.get()
    before = datetime.now(UTC) - timedelta(seconds=1)
    status, published_headers, body = rc.put(_template("first"), headers["etag"])
    assert status == 200, body
    assert published_headers["etag"] == f"etag-{project_number(rc.project)}-1"
    version = body["version"]
    assert version["versionNumber"] == "1"  # int64: a JSON string
    assert version["updateType"] == "INCREMENTAL_UPDATE"
    assert version["updateOrigin"] == "REST_API"
    assert version["description"] == "first"
    assert version["updateUser"]["email"]
    updated = datetime.fromisoformat(version["updateTime"].replace("Z", "+00:00"))
    assert before <= updated <= datetime.now(UTC)
    assert body["conditions"] == _template()["conditions"]
    assert body["parameters"] == _template()["parameters"]

    status, headers, current = rc.get()
    assert headers["etag"] == published_headers["etag"]
    assert current == body


def test_publish_without_if_match_is_412_version_mismatch(rc):
    status, _, body = rc.put(_template())
    assert status == 412
    assert body["error"]["status"] == "FAILED_PRECONDITION"
    assert body["error"]["message"].startswith("[VERSION_MISMATCH]: ")
    assert rc.get()[1]["etag"].endswith("-0")  # nothing was published


def test_publish_with_a_stale_etag_is_412_and_names_both_versions(rc):
    first_etag = rc.get()[1]["etag"]
    rc.publish(_template("one"))
    status, _, body = rc.put(_template("two"), first_etag)
    assert status == 412
    assert body["error"] == {
        "code": 412,
        # Google's text, as firebase-admin-node's unit tests quote it.
        "message": (
            f"[VERSION_MISMATCH]: Expected version 0, found 1 for project: "
            f"{project_number(rc.project)}"
        ),
        "status": "FAILED_PRECONDITION",
    }
    assert rc.get()[2]["version"]["description"] == "one"


def test_if_match_star_forces_the_update(rc):
    rc.publish(_template("one"))
    status, headers, body = rc.put(_template("forced"), "*")
    assert status == 200, body
    assert body["version"]["updateType"] == "FORCED_UPDATE"
    assert body["version"]["versionNumber"] == "2"
    assert headers["etag"].endswith("-2")


def test_an_if_match_that_is_no_etag_of_the_service_is_400(rc):
    status, _, body = rc.put(_template(), "W/not-an-etag")
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"


def test_an_etag_of_another_project_does_not_match(rc, emulator):
    other = Rc(emulator.env, _project())
    status, _, body = rc.put(_template(), other.get()[1]["etag"])
    assert status == 412, body


def test_validate_only_answers_the_template_and_an_etag_ending_in_0_and_publishes_nothing(rc):
    etag = rc.publish(_template("one"))[0]
    status, headers, body = rc.put(_template("checked"), etag, "?validateOnly=true")
    assert status == 200, body
    assert headers["etag"] == f"etag-{project_number(rc.project)}-0"
    assert body["parameters"] == _template()["parameters"]
    assert body["version"] == {"description": "checked"}
    _, headers, current = rc.get()
    assert headers["etag"] == etag and current["version"]["description"] == "one"
    # snake_case, as gRPC transcoding also accepts
    assert rc.put(_template(), etag, "?validate_only=true")[0] == 200


def test_validate_only_refuses_an_invalid_template(rc):
    broken = _template()
    broken["conditions"] = []  # the parameter still names `candidates`
    status, _, body = rc.put(broken, rc.get()[1]["etag"], "?validateOnly=true")
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"  # what firebase-admin-node's IT expects


def test_get_a_stored_version_with_its_etag(rc):
    rc.publish(_template("one", model="m1"))
    rc.publish(_template("two", model="m2"))
    status, headers, body = rc.get("?versionNumber=1")
    assert status == 200
    assert headers["etag"].endswith("-1")
    assert body["version"]["description"] == "one"
    assert body["parameters"]["model"]["defaultValue"] == {"value": "m1"}
    assert rc.get("?version_number=2")[2]["version"]["description"] == "two"


@pytest.mark.parametrize(
    ("query", "status"),
    [("?versionNumber=9", 404), ("?versionNumber=0", 400), ("?versionNumber=x", 400)],
)
def test_get_a_version_that_is_not_stored_or_not_a_number(rc, query, status):
    rc.publish(_template())
    assert rc.get(query)[0] == status


def test_a_body_that_is_not_json_is_400(rc):
    status, _, body = rc.call("PUT", "/remoteConfig", raw=b"{nope", headers={"If-Match": "*"})
    assert status == 400
    assert "not valid JSON" in body["error"]["message"]


# ---- versions and rollback --------------------------------------------------------------------


def test_list_versions_newest_first_in_pages_whose_token_is_the_next_version(rc):
    for n in range(1, 6):
        rc.publish(_template(f"v{n}"))
    status, body = rc.list_versions()
    assert status == 200
    assert [v["versionNumber"] for v in body["versions"]] == ["5", "4", "3", "2", "1"]
    assert "nextPageToken" not in body
    assert body["versions"][0]["description"] == "v5"
    assert "parameters" not in body["versions"][0]  # versions carry metadata only

    status, first = rc.list_versions("?pageSize=2")
    assert [v["versionNumber"] for v in first["versions"]] == ["5", "4"]
    assert first["nextPageToken"] == "3"
    _, second = rc.list_versions(f"?pageSize=2&pageToken={first['nextPageToken']}")
    assert [v["versionNumber"] for v in second["versions"]] == ["3", "2"]
    _, last = rc.list_versions(f"?page_size=2&page_token={second['nextPageToken']}")
    assert [v["versionNumber"] for v in last["versions"]] == ["1"]
    assert "nextPageToken" not in last


def test_list_versions_end_version_number_and_update_times(rc):
    times = []
    for n in range(1, 4):
        rc.publish(_template(f"v{n}"))
        times.append(rc.get()[2]["version"]["updateTime"])
        time.sleep(0.01)
    _, body = rc.list_versions("?endVersionNumber=2")
    assert [v["versionNumber"] for v in body["versions"]] == ["2", "1"]
    _, body = rc.list_versions(f"?startTime={times[1]}")  # inclusive
    assert [v["versionNumber"] for v in body["versions"]] == ["3", "2"]
    _, body = rc.list_versions(f"?endTime={times[1]}")  # exclusive
    assert [v["versionNumber"] for v in body["versions"]] == ["1"]
    _, body = rc.list_versions(f"?start_time={times[0]}&end_time={times[2]}")
    assert [v["versionNumber"] for v in body["versions"]] == ["2", "1"]
    _, body = rc.list_versions("?startTime=2000-01-01T00:00:00.123456789Z")  # nanoseconds
    assert len(body["versions"]) == 3


@pytest.mark.parametrize(
    "query",
    [
        "?endVersionNumber=0",  # "If specified, must be greater than zero"
        "?startTime=yesterday",
        "?endTime=2024-01-01",
        "?pageToken=not-a-token",
        "?pageSize=-1",
        "?pageSize=ten",
    ],
)
def test_list_versions_refuses_bad_arguments(rc, query):
    status, body = rc.list_versions(query)
    assert status == 400, body


def test_rollback_publishes_the_old_version_again_as_a_new_rollback_version(rc):
    rc.publish(_template("one", model="m1"))
    rc.publish(_template("two", model="m2"))
    status, headers, body = rc.rollback({"versionNumber": "1"})
    assert status == 200, body
    assert headers["etag"].endswith("-3")
    version = body["version"]
    assert version["versionNumber"] == "3"
    assert version["updateType"] == "ROLLBACK"
    assert version["rollbackSource"] == "1"
    # What firebase-admin-node's integration test expects of Google.
    assert version["description"] == "Rollback to version 1"
    assert body["parameters"]["model"]["defaultValue"] == {"value": "m1"}
    assert rc.get()[2] == body
    _, listed = rc.list_versions()
    assert [v["updateType"] for v in listed["versions"]] == [
        "ROLLBACK",
        "INCREMENTAL_UPDATE",
        "INCREMENTAL_UPDATE",
    ]
    assert rc.rollback({"version_number": 2})[0] == 200  # a number, in snake_case, also works


@pytest.mark.parametrize(
    ("body", "status"),
    [({"versionNumber": "7"}, 404), ({}, 400), ({"versionNumber": "0"}, 400), ([], 400)],
)
def test_rollback_to_a_version_that_is_not_stored_or_not_given(rc, body, status):
    rc.publish(_template())
    assert rc.rollback(body)[0] == status
    assert rc.get()[1]["etag"].endswith("-1")


def test_the_service_keeps_the_last_300_versions_and_drops_old_inactive_ones(emulator_factory):
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    register = functools.partial(
        remote_config_facade.register, max_versions=3, clock=lambda: now[0]
    )
    server = emulator_factory(facades=(register,))
    rc = Rc(server.env, _project())
    for n in range(1, 6):
        rc.publish(_template(f"v{n}"))
    _, body = rc.list_versions()
    assert [v["versionNumber"] for v in body["versions"]] == ["5", "4", "3"]
    assert rc.get("?versionNumber=2")[0] == 404
    assert rc.rollback({"versionNumber": "1"})[0] == 404

    now[0] += timedelta(days=91)  # 90 days: inactive versions go, the active one stays
    _, body = rc.list_versions()
    assert [v["versionNumber"] for v in body["versions"]] == ["5"]
    assert rc.get()[2]["version"]["description"] == "v5"


def test_templates_and_versions_survive_a_restart(emulator_factory, tmp_path):
    data_dir = tmp_path / "data"
    project = _project()
    first = emulator_factory(data_dir)
    rc = Rc(first.env, project)
    rc.publish(_template("one"))
    etag, body = rc.publish(_template("two", model="m2"))
    first.stop()

    second = emulator_factory(data_dir)
    rc = Rc(second.env, project)
    status, headers, current = rc.get()
    assert headers["etag"] == etag
    assert current == body
    assert [v["versionNumber"] for v in rc.list_versions()[1]["versions"]] == ["2", "1"]
    status, headers, _ = rc.put(_template("three"), etag)  # the ETag read before still holds
    assert status == 200 and headers["etag"].endswith("-3")


def test_namespaces_have_their_own_templates_and_versions(emulator):
    project = _project()
    client = Rc(emulator.env, project)
    namespaced_client = Rc(emulator.env, project, "firebase")
    server = Rc(emulator.env, project, "firebase-server")
    client.publish(_template("client"))
    assert namespaced_client.get()[2] == client.get()[2]  # the same template, two paths
    status, headers, body = server.get()
    assert status == 200 and body == {} and headers["etag"].endswith("-0")
    server.publish(_template("server"))
    assert server.get()[2]["version"]["description"] == "server"
    assert client.get()[2]["version"]["description"] == "client"
    assert Rc(emulator.env, project, "firebase-analytics").get()[0] == 404


# ---- validation: one test per rule ----------------------------------------------------------


def _with(**changes: Any) -> dict[str, Any]:
    template = _template()
    template.update(changes)
    return template


def _parameter(value: Any = None, **fields: Any) -> dict[str, Any]:
    return {"defaultValue": value if value is not None else {"value": "x"}, **fields}


def _conditions(*expressions: str) -> list[dict[str, str]]:
    return [{"name": f"c{i}", "expression": e} for i, e in enumerate(expressions)]


INVALID = {
    "unknown top-level field": (_with(etag="etag-1-1"), 'Unknown name "etag"'),
    "body is not an object": ([], "Expected an object"),
    "conditions is not a list": (_with(conditions={}), "Expected a list"),
    "condition without a name": (
        _with(conditions=[{"expression": "true"}], parameters={}),
        "has no name",
    ),
    "condition name with a forbidden character": (
        _with(conditions=[{"name": "a/b", "expression": "true"}], parameters={}),
        "Condition name 'a/b' is invalid",
    ),
    "condition name with a trailing space": (
        _with(conditions=[{"name": "ios ", "expression": "true"}], parameters={}),
        "is invalid",
    ),
    "duplicate condition names": (
        _with(
            conditions=[{"name": "a", "expression": "true"}, {"name": "a", "expression": "false"}],
            parameters={},
        ),
        "Duplicate condition name 'a'",
    ),
    "unknown condition field": (
        _with(conditions=[{"name": "a", "expression": "true", "priority": 1}], parameters={}),
        'Unknown name "priority"',
    ),
    "tagColor outside the enum": (
        _with(conditions=[{"name": "a", "expression": "true", "tagColor": "RED"}], parameters={}),
        "TagColor",
    ),
    "expression that is no rule": (
        _with(conditions=_conditions("garbage"), parameters={}),
        "unknown element 'garbage'",
    ),
    "empty expression": (_with(conditions=_conditions(""), parameters={}), "is empty"),
    "&& without spaces": (
        _with(conditions=_conditions("percent <= 10&&true"), parameters={}),
        "needs a space",
    ),
    "|| (conditions are conjunctions)": (
        _with(conditions=_conditions("percent <= 10 || true"), parameters={}),
        "Expected exactly one term in OR condition here",
    ),
    "! negation": (_with(conditions=_conditions("!true"), parameters={}), "NOT condition"),
    "percent above 100": (
        _with(conditions=_conditions("percent <= 150"), parameters={}),
        "not between 0 and 100",
    ),
    "percent between with bounds reversed": (
        _with(conditions=_conditions("percent between 50 and 10"), parameters={}),
        "lower bound",
    ),
    "percent seed with a space": (
        _with(conditions=_conditions("percent('my seed') <= 10"), parameters={}),
        "percent seed",
    ),
    "device.country with ==": (
        _with(conditions=_conditions("device.country == 'us'"), parameters={}),
        "expected 'in'",
    ),
    "device.country not a two-letter code": (
        _with(conditions=_conditions("device.country in ['usa']"), parameters={}),
        "ISO 3166-1 alpha-2",
    ),
    "app.version compared as a string": (
        _with(conditions=_conditions("app.version >= '2.0'"), parameters={}),
        "expected '.'",
    ),
    "app.version numeric comparison with two values": (
        _with(conditions=_conditions("app.version.>=(['1.0', '2.0'])"), parameters={}),
        "exactly one dotted number",
    ),
    "app.id without a quoted id": (
        _with(conditions=_conditions("app.id == 123"), parameters={}),
        "a quoted app id",
    ),
    "unterminated string": (
        _with(conditions=_conditions("app.id == 'abc"), parameters={}),
        "unterminated string",
    ),
    f"more than {MAX_CONDITIONS} conditions": (
        _with(conditions=_conditions(*["true"] * (MAX_CONDITIONS + 1)), parameters={}),
        "Condition count too large",
    ),
    "conditional value of an unknown condition": (
        _with(conditions=[]),
        # Google's text (firebase-admin-node's unit test fixture).
        "[VALIDATION_ERROR]: [candidates] are not valid condition names. All keys in all "
        "conditional value maps must be valid condition names.",
    ),
    f"more than {MAX_PARAMETERS} parameters": (
        _with(parameters={f"p{i}": _parameter() for i in range(MAX_PARAMETERS + 1)}),
        "Param count too large",
    ),
    "parameter key starting with a digit": (
        _with(parameters={"1model": _parameter()}),
        "Parameter key '1model' is invalid",
    ),
    "parameter key with a hyphen": (
        _with(parameters={"model-name": _parameter()}),
        "Parameter key 'model-name' is invalid",
    ),
    "parameter key longer than 256": (
        _with(parameters={"k" * 257: _parameter()}),
        "is invalid",
    ),
    "parameter both ungrouped and in a group": (
        _with(parameterGroups={"g": {"parameters": {"model": _parameter()}}}),
        "Duplicate parameter key 'model'",
    ),
    "unknown parameter field": (
        _with(parameters={"model": _parameter(default=1)}),
        'Unknown name "default"',
    ),
    "value with value and useInAppDefault": (
        _with(parameters={"model": _parameter({"value": "a", "useInAppDefault": True})}),
        "exactly one of",
    ),
    "value that is not a string": (
        _with(parameters={"model": _parameter({"value": 3})}),
        "Expected a string",
    ),
    "useInAppDefault false": (
        _with(parameters={"model": _parameter({"useInAppDefault": False})}),
        "must be true",
    ),
    "valueType outside the enum": (
        _with(parameters={"model": _parameter(valueType="TEXT")}),
        "ParameterValueType",
    ),
    "BOOLEAN value that is not true or false": (
        _with(parameters={"on": _parameter({"value": "yes"}, valueType="BOOLEAN")}),
        "is not a BOOLEAN",
    ),
    "NUMBER value that is not a number": (
        _with(parameters={"n": _parameter({"value": "1e5"}, valueType="NUMBER")}),
        "is not a NUMBER",
    ),
    "JSON value that is not JSON": (
        _with(parameters={"j": _parameter({"value": "{a: 1}"}, valueType="JSON")}),
        "is not valid JSON",
    ),
    "parameter description over 100 characters": (
        _with(parameters={"model": _parameter(description="d" * 101)}),
        "at most 100",
    ),
    "values over 1,000,000 characters in total": (
        _with(
            parameters={f"p{i}": _parameter({"value": "v" * 300_000}) for i in range(4)},
            conditions=[],
        ),
        "at most 1000000",
    ),
    "a managed value (rolloutValue)": (
        _with(
            parameters={
                "model": {
                    "defaultValue": {"value": "a"},
                    "conditionalValues": {
                        "candidates": {"rolloutValue": {"rolloutId": "r", "value": "b"}}
                    },
                }
            }
        ),
        "rolloutValue",
    ),
    "group parameters that are not an object": (
        _with(parameterGroups={"g": {"parameters": 5}}),
        "Expected an object",
    ),
    "group description over 256 characters": (
        _with(parameterGroups={"g": {"description": "d" * 257, "parameters": {}}}),
        "at most 256",
    ),
    "version description over 1024 characters": (
        _with(version={"description": "d" * 1025}),
        "at most 1024",
    ),
}


@pytest.mark.parametrize("rule", list(INVALID))
def test_publishing_refuses(rc, rule):
    template, expected = INVALID[rule]
    etag = rc.get()[1]["etag"]
    status, _, body = rc.put(template, etag)
    assert status == 400, body
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert expected in body["error"]["message"]
    assert rc.get()[1]["etag"] == etag  # nothing was published


def test_limits_are_inclusive(rc):
    template = _with(
        conditions=_conditions(*["true"] * MAX_CONDITIONS),
        parameters={f"p{i}": _parameter() for i in range(MAX_PARAMETERS)},
    )
    status, _, body = rc.put(template, rc.get()[1]["etag"])
    assert status == 200, body["error"]["message"][:300] if "error" in body else ""


def test_output_only_version_fields_are_ignored(rc):
    template = _template()
    template["version"] = {"versionNumber": "99", "updateType": "ROLLBACK", "description": "d"}
    _, _, body = rc.put(template, rc.get()[1]["etag"])
    assert body["version"]["versionNumber"] == "1"
    assert body["version"]["updateType"] == "INCREMENTAL_UPDATE"
    assert body["version"]["description"] == "d"


def test_every_documented_element_is_accepted(rc):
    expressions = [
        "true",
        "false",
        "percent <= 10",
        "percent > 90",
        "percent('rollout_seed') between 0 and 25.5",
        "app.id == '1:1234567890:android:321abc456def7890'",
        "app.version.>=(['2.1.0'])",
        "app.version.exactlyMatches(['2.1.0', '2.1.1'])",
        "app.build.contains(['100'])",
        "app.version.matches(['^2\\\\.'])",
        "device.os == 'ios'",
        "device.os != 'android'",
        "device.country in ['us', 'GB']",
        "device.language in ['en-US', 'fr']",
        "dateTime >= dateTime('2025-06-01T00:00:00', 'America/Los_Angeles')",
        "device.dateTime < dateTime('2030-01-01T00:00:00')",
        "app.firstOpenTimestamp <= ('2022-10-31T14:37:47', 'America/Los_Angeles')",
        "app.audiences.inAtLeastOne(['purchasers'])",
        "app.userProperty['tier'].exactlyMatches(['gold'])",
        "app.userProperty['age'] >= 21",
        "app.customSignal['region'].contains(['eu'])",
        "version(app.customSignal['client_version']) >= '1.2.0'",
        "app.firebaseInstallationId in ['fid_1']",
        "device.os == 'android' && device.country in ['us', 'uk'] && percent <= 10",
    ]
    status, _, body = rc.put(_with(conditions=_conditions(*expressions), parameters={}), "*")
    assert status == 200, body


def test_server_templates_take_only_percent_and_custom_signal_rules(emulator):
    server = Rc(emulator.env, _project(), "firebase-server")
    status, _, body = server.put(
        _with(conditions=[{"name": "candidates", "expression": "device.country in ['us']"}]), "*"
    )
    assert status == 400
    assert "not supported in server templates" in body["error"]["message"]
    template = _with(
        conditions=[
            {
                "name": "candidates",
                "expression": "percent <= 10 && app.customSignal['tier'].exactlyMatches(['gold'])",
            }
        ]
    )
    assert server.put(template, "*")[0] == 200


# ---- conditions: order and evaluation -------------------------------------------------------


def test_the_first_true_condition_in_the_template_order_wins(rc):
    def published(order: list[str]) -> Template:
        conditions = {
            "us": {"name": "us", "expression": "device.country in ['us']"},
            "ios": {"name": "ios", "expression": "device.os == 'ios'"},
        }
        template = {
            "conditions": [conditions[name] for name in order],
            "parameters": {
                "model": {
                    "defaultValue": {"value": "default"},
                    # the map's order does not matter: the conditions list's does
                    "conditionalValues": {"us": {"value": "us-model"}, "ios": {"value": "ios"}},
                }
            },
        }
        rc.put(template, "*")
        return Template.from_json(rc.get()[2])

    both = AppInstance(country="US", platform="ios")
    assert resolve(published(["us", "ios"]), both) == {"model": "us-model"}
    assert resolve(published(["ios", "us"]), both) == {"model": "ios"}
    assert resolve(published(["ios", "us"]), AppInstance(country="fr")) == {"model": "default"}


def test_ten_percent_of_users_get_the_candidate(rc):
    rc.publish(_template(model="flowers-v1"))
    template = Template.from_json(rc.get()[2])
    users = 20_000
    candidates = sum(
        resolve(template, AppInstance(randomization_id=f"fid-{i}"))["model"]
        == "flowers-v1-candidate"
        for i in range(users)
    )
    # 10 % ± 1 point: 4.7 standard deviations of a binomial(20,000, 0.1).
    assert 0.09 <= candidates / users <= 0.11
    # The same user always gets the same answer; an instance without an id never matches.
    assert resolve(template, AppInstance(randomization_id="fid-7")) == resolve(
        template, AppInstance(randomization_id="fid-7")
    )
    assert resolve(template, AppInstance()) == {"model": "flowers-v1"}


def test_seeds_pick_independent_users_and_between_is_lower_exclusive():
    users = [f"fid-{i}" for i in range(5_000)]
    a = {
        u
        for u in users
        if evaluate(parse_condition("percent('a') <= 50"), AppInstance(randomization_id=u))
    }
    b = {
        u
        for u in users
        if evaluate(parse_condition("percent('b') <= 50"), AppInstance(randomization_id=u))
    }
    assert 0.2 <= len(a & b) / len(users) <= 0.3  # independent halves overlap by a quarter
    user = users[0]
    p = user_percentile(user, "s")
    exact_low = parse_condition(f"percent('s') between {p / 1e6:.6f} and 100")
    exact_high = parse_condition(f"percent('s') between 0 and {p / 1e6:.6f}")
    assert not evaluate(exact_low, AppInstance(randomization_id=user))
    assert evaluate(exact_high, AppInstance(randomization_id=user))


@pytest.mark.parametrize(
    ("expression", "instance", "expected"),
    [
        ("app.id == 'app-1'", AppInstance(app_id="app-1"), True),
        ("app.id == 'app-1'", AppInstance(app_id="app-2"), False),
        ("app.id != 'app-1'", AppInstance(), False),  # undefined: the rule is false
        ("app.version.>=(['2.1.0'])", AppInstance(app_version="2.10"), True),
        ("app.version.>=(['2.1.0'])", AppInstance(app_version="2.0.9"), False),
        ("app.version.<(['2'])", AppInstance(app_version="1.9.9"), True),
        ("app.version.exactlyMatches(['2.1.0'])", AppInstance(app_version="2.1.0"), True),
        ("app.version.contains(['beta'])", AppInstance(app_version="2.1-beta"), True),
        ("app.version.matches(['^3\\\\.'])", AppInstance(app_version="3.0"), True),
        ("device.country in ['us', 'gb']", AppInstance(country="GB"), True),
        ("device.country in ['us', 'gb']", AppInstance(country="FR"), False),
        ("device.os == 'ios'", AppInstance(platform="iOS"), True),
        ("device.language in ['en-US']", AppInstance(language="en_us"), True),
        (
            "device.country in ['us'] && app.version.>=(['2.0'])",
            AppInstance(country="us", app_version="1.0"),
            False,
        ),
        (
            "dateTime >= dateTime('2026-01-01T00:00:00', 'Europe/Paris')",
            AppInstance(now=datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
            True,  # 00:30 in Paris
        ),
        ("app.audiences.inAll(['a', 'b'])", AppInstance(audiences=frozenset({"a"})), False),
        ("app.audiences.notInAll(['a', 'b'])", AppInstance(audiences=frozenset({"c"})), True),
        ("app.userProperty['age'] >= 21", AppInstance(user_properties={"age": "30"}), True),
        (
            "version(app.customSignal['v']) > '1.2'",
            AppInstance(custom_signals={"v": "1.10.0"}),
            True,
        ),
        ("app.firebaseInstallationId in ['f1']", AppInstance(randomization_id="f1"), True),
    ],
)
def test_evaluate(expression, instance, expected):
    assert evaluate(parse_condition(expression), instance) is expected


# ---- firebase-admin's own client -------------------------------------------------------------


def _server_template_app(env: Mapping[str, str], project: str) -> firebase_admin.App:
    """A firebase_admin app whose Remote Config service reads the emulator.

    firebase-admin 7.7.0's `_RemoteConfigService` has its base URL built in; only its HTTP
    client is replaced (same credentials, headers and timeout, the emulator's base URL).
    """
    from firebase_admin import _http_client, remote_config

    app = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": project}, name=f"rc-test-{project}"
    )
    service = remote_config._RemoteConfigService(app)
    service._client = _http_client.JsonHttpClient(
        credential=app.credential.get_credential(), base_url=env[FIREBASE_ML_ENV]
    )
    app._get_service(remote_config._REMOTE_CONFIG_ATTRIBUTE, lambda _: service)
    return app


def test_firebase_admin_server_template_loads_and_evaluates_as_the_emulator_does(emulator):
    from firebase_admin import remote_config

    project = _project()
    server = Rc(emulator.env, project, "firebase-server")
    expression = "percent('rollout') <= 10 && app.customSignal['tier'].exactlyMatches(['gold'])"
    template = {
        "conditions": [
            {"name": "candidates", "expression": expression},
            {"name": "wide", "expression": "percent between 50 and 100"},
        ],
        "parameters": {
            "model": {
                "defaultValue": {"value": "v1"},
                "conditionalValues": {"candidates": {"value": "v2"}, "wide": {"value": "v1b"}},
            }
        },
        "parameterGroups": {"g": {"parameters": {"threshold": {"defaultValue": {"value": "0.5"}}}}},
        "version": {"description": "server rollout"},
    }
    etag, _ = server.publish(template)
    app = _server_template_app(emulator.env, project)
    try:
        loaded = asyncio.run(remote_config.get_server_template(app=app))
        served = json.loads(loaded.to_json())
        assert served["etag"] == etag
        assert served["version"]["description"] == "server rollout"
        published = Template.from_json(server.get()[2])
        for i in range(3_000):
            signals = {"tier": "gold" if i % 2 else "silver"}
            ours = resolve(
                published, AppInstance(randomization_id=f"fid-{i}", custom_signals=signals)
            )
            theirs = loaded.evaluate({"randomization_id": f"fid-{i}", **signals})
            assert theirs.get_string("model") == ours["model"], i
            assert theirs.get_string("threshold") == ours["threshold"] == "0.5"
    finally:
        firebase_admin.delete_app(app)
