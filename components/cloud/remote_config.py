"""Firebase Remote Config templates over REST: the client a Rollout provider uses.

firebase-admin 7.7.0 (Python) only reads server templates (`remote_config.ServerTemplate`),
so templates are read and published here through the REST API
(`firebaseremoteconfig.googleapis.com/v1/projects/{p}/remoteConfig`), with firebase-admin's
HTTP client and Google credentials as components/cloud/clients.py sets them up (the emulator's
REST server on emulator stacks).

Publishing is optimistic: `get()` returns the template with its ETag, `publish()` sends that
ETag as `If-Match`, and a template changed in between fails with `EtagMismatch` (HTTP 412),
upon which the caller reads the template again, re-applies its own change and publishes again.
Transient errors are retried (components/cloud/retry.py). A publish or rollback whose answer was
lost is not repeated blindly: before retrying, the current template is read, and if it is what
the lost call published it is the answer (otherwise a retried publish would meet its own new
version as a 412, and a retried rollback would publish a second version).

Values this tool does not manage (A/B Testing's `experimentValue`, Rollouts' `rolloutValue`,
`personalizationValue`) are kept as read and published back unchanged.
"""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from components.cloud import retry
from components.cloud.clients import CloudTarget, remote_config_endpoint
from components.cloud.errors import CloudError, CloudNotFound, cloud_errors

if TYPE_CHECKING:
    from components.spec import RolloutCondition

CLIENT_NAMESPACE = "firebase"
SERVER_NAMESPACE = "firebase-server"
TIMEOUT_SECONDS = 60.0
_ETAG_VERSION = re.compile(r'(?:W/)?"?etag-\d+-(?P<version>\d+)"?')

JsonObject = dict[str, Any]


class EtagMismatch(CloudError):
    """The template changed since it was read (HTTP 412, VERSION_MISMATCH): read it again,
    re-apply the change and publish again."""


class TemplateRejected(CloudError):
    """The service refused the template (HTTP 400): nothing was published; the message says why."""


@contextmanager
def remote_config_errors(action: str, *, sends_template: bool = False) -> Iterator[None]:
    """Turns firebase-admin's and Google's errors into CloudError('<action>: <message>'); a 412
    into EtagMismatch, a 404 into CloudNotFound, and — for calls that send a template — a 400
    into TemplateRejected."""
    from firebase_admin import exceptions as firebase_exceptions  # the client libraries load lazily

    try:
        with cloud_errors(action):
            yield
    except firebase_exceptions.FirebaseError as exc:
        response = exc.http_response
        status = response.status_code if response is not None else None
        if status == 412:
            raise EtagMismatch(
                f"{action}: {exc} (the template changed since it was read: read it again, "
                "re-apply the change and publish again)"
            ) from exc
        if isinstance(exc, firebase_exceptions.NotFoundError):
            raise CloudNotFound(f"{action}: {exc}") from exc
        if status == 400 and sends_template:
            raise TemplateRejected(f"{action}: {exc}") from exc
        hint = {
            "PERMISSION_DENIED": " (the credentials lack a Remote Config permission)",
            "UNAUTHENTICATED": " (no valid credentials)",
        }.get(str(exc.code), "")
        raise CloudError(f"{action}: {exc}{hint}") from exc


def _template_errors(action: str) -> AbstractContextManager[None]:
    """remote_config_errors of a call that sends a template (validate, publish)."""
    return remote_config_errors(action, sends_template=True)


# ---- the template ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterValue:
    """A value: `value`, or `use_in_app_default`, or one managed elsewhere (kept in `managed`)."""

    value: str | None = None
    use_in_app_default: bool = False
    managed: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"rolloutValue": {...}}

    def to_json(self) -> JsonObject:
        if self.managed:
            return dict(self.managed)
        if self.use_in_app_default:
            return {"useInAppDefault": True}
        return {"value": self.value if self.value is not None else ""}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ParameterValue":
        if "value" in data:
            return cls(value=str(data["value"]))
        if data.get("useInAppDefault"):
            return cls(use_in_app_default=True)
        return cls(managed=dict(data))


@dataclass(frozen=True)
class Parameter:
    """A parameter: its default, its values per condition name, description and value type."""

    default_value: ParameterValue | None = None
    conditional_values: Mapping[str, ParameterValue] = field(default_factory=dict)
    description: str = ""
    value_type: str = ""  # STRING | BOOLEAN | NUMBER | JSON; "" leaves it unspecified (STRING)

    def to_json(self) -> JsonObject:
        doc: JsonObject = {}
        if self.default_value is not None:
            doc["defaultValue"] = self.default_value.to_json()
        if self.conditional_values:
            doc["conditionalValues"] = {
                name: value.to_json() for name, value in self.conditional_values.items()
            }
        if self.description:
            doc["description"] = self.description
        if self.value_type:
            doc["valueType"] = self.value_type
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Parameter":
        default = data.get("defaultValue")
        return cls(
            default_value=ParameterValue.from_json(default) if default is not None else None,
            conditional_values={
                name: ParameterValue.from_json(value)
                for name, value in (data.get("conditionalValues") or {}).items()
            },
            description=str(data.get("description", "")),
            value_type=str(data.get("valueType", "")),
        )


@dataclass(frozen=True)
class ParameterGroup:
    description: str = ""
    parameters: Mapping[str, Parameter] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        doc: JsonObject = {"parameters": {k: p.to_json() for k, p in self.parameters.items()}}
        if self.description:
            doc["description"] = self.description
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ParameterGroup":
        return cls(
            description=str(data.get("description", "")),
            parameters={
                key: Parameter.from_json(p) for key, p in (data.get("parameters") or {}).items()
            },
        )


@dataclass(frozen=True)
class Condition:
    """A named condition; the order of a template's conditions is their priority."""

    name: str
    expression: str
    tag_color: str = ""

    def to_json(self) -> JsonObject:
        doc: JsonObject = {"name": self.name, "expression": self.expression}
        if self.tag_color:
            doc["tagColor"] = self.tag_color
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Condition":
        return cls(
            name=str(data["name"]),
            expression=str(data["expression"]),
            tag_color=str(data.get("tagColor", "")),
        )


@dataclass(frozen=True)
class Version:
    """A template version's metadata, as the service recorded it."""

    number: int
    update_time: datetime | None = None
    update_user: str = ""
    update_origin: str = ""
    update_type: str = ""  # INCREMENTAL_UPDATE | FORCED_UPDATE | ROLLBACK
    description: str = ""
    rollback_source: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Version":
        time = data.get("updateTime")
        source = data.get("rollbackSource")
        return cls(
            number=int(data.get("versionNumber", 0)),
            update_time=_parse_time(str(time)) if time else None,
            update_user=str((data.get("updateUser") or {}).get("email", "")),
            update_origin=str(data.get("updateOrigin", "")),
            update_type=str(data.get("updateType", "")),
            description=str(data.get("description", "")),
            rollback_source=int(source) if source is not None else None,
        )


@dataclass(frozen=True)
class Template:
    """A Remote Config template as read (with its ETag), or as it is to be published."""

    conditions: tuple[Condition, ...] = ()
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    parameter_groups: Mapping[str, ParameterGroup] = field(default_factory=dict)
    version: Version | None = None
    etag: str = ""

    def content_json(self) -> JsonObject:
        """What a publish sends (and what two templates are compared by): conditions,
        parameters and parameter groups."""
        return {
            "conditions": [c.to_json() for c in self.conditions],
            "parameters": {key: p.to_json() for key, p in self.parameters.items()},
            "parameterGroups": {name: g.to_json() for name, g in self.parameter_groups.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], etag: str) -> "Template":
        version = data.get("version")
        return cls(
            conditions=tuple(Condition.from_json(c) for c in data.get("conditions") or ()),
            parameters={
                k: Parameter.from_json(p) for k, p in (data.get("parameters") or {}).items()
            },
            parameter_groups={
                name: ParameterGroup.from_json(g)
                for name, g in (data.get("parameterGroups") or {}).items()
            },
            version=Version.from_json(version) if version else None,
            etag=etag,
        )

    @property
    def version_number(self) -> int | None:
        """The version this template was read at (from `version`, else from the ETag)."""
        if self.version is not None and self.version.number:
            return self.version.number
        match = _ETAG_VERSION.fullmatch(self.etag)
        return int(match["version"]) if match else None


def _parse_time(text: str) -> datetime:
    """An RFC 3339 time as the service writes it (up to nine fractional digits)."""
    head, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return moment.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- the client -----------------------------------------------------------------------------


class RemoteConfigClient:
    """One project's Remote Config template (namespace `firebase`: what apps fetch)."""

    def __init__(self, target: CloudTarget, namespace: str = CLIENT_NAMESPACE) -> None:
        url, credential = remote_config_endpoint(target)
        self.project = target.project
        self.namespace = namespace
        path = (
            f"/v1/projects/{target.project}/remoteConfig"
            if namespace == CLIENT_NAMESPACE
            else f"/v1/projects/{target.project}/namespaces/{namespace}/remoteConfig"
        )
        from firebase_admin import _http_client as firebase_http_client

        # No retries inside the HTTP client: components/cloud/retry.py decides what to retry.
        self._http = firebase_http_client.JsonHttpClient(
            credential=credential, base_url=url + path, retries=False, timeout=TIMEOUT_SECONDS
        )

    def _what(self) -> str:
        return f"the Remote Config template of project {self.project} ({self.namespace})"

    def _request(
        self,
        method: str,
        suffix: str = "",
        *,
        params: Mapping[str, str] | None = None,
        body: JsonObject | None = None,
        if_match: str | None = None,
    ) -> tuple[JsonObject, str]:
        """One call: its JSON answer and ETag header; firebase-admin's FirebaseError on failure."""
        import requests
        from firebase_admin import _utils as firebase_utils

        headers = {"If-Match": if_match} if if_match is not None else {}
        try:
            response = self._http.request(
                method, suffix, params=dict(params or {}), json=body, headers=headers
            )
        except requests.RequestException as exc:
            raise firebase_utils.handle_platform_error_from_requests(exc) from exc
        document: JsonObject = response.json() if response.content else {}
        etag: str = response.headers.get("ETag", "")
        return document, etag

    def _get_once(self, version_number: int | None = None) -> Template:
        params = {"versionNumber": str(version_number)} if version_number is not None else None
        document, etag = self._request("GET", params=params)
        return Template.from_json(document, etag)

    def get(self, version_number: int | None = None) -> Template:
        """The active template (or a stored version) with its ETag; retried when transient."""
        which = f"version {version_number} of " if version_number is not None else ""
        return retry.call(
            f"reading {which}{self._what()}",
            lambda: self._get_once(version_number),
            errors=remote_config_errors,
        )

    def validate(self, template: Template, *, description: str = "") -> Template:
        """Checks the template as the service would publish it, publishing nothing.

        Returns the template as the service answered it, with the ETag it was given (the
        service answers `etag-…-0` for a validation, which no publish accepts).
        """
        body = _body(template, description)

        def attempt() -> Template:
            document, _ = self._request(
                "PUT", params={"validateOnly": "true"}, body=body, if_match=template.etag or "*"
            )
            return Template.from_json(document, template.etag)

        return retry.call(f"validating {self._what()}", attempt, errors=_template_errors)

    def publish(
        self, template: Template, *, description: str = "", force: bool = False
    ) -> Template:
        """Publishes the template if it still replaces the version it was read at (its ETag);
        `force` replaces whatever is active (If-Match: *). Returns the new active template.

        Raises EtagMismatch when another change was published since the template was read,
        TemplateRejected when the service refuses the template.
        """
        if not force and not template.etag:
            raise CloudError(
                f"publishing {self._what()}: the template has no ETag; start from get() (or "
                "publish with force=True to replace whatever is active)"
            )
        body = _body(template, description)
        base = template.version_number
        wanted = template.content_json()

        def attempt() -> Template:
            document, etag = self._request(
                "PUT", body=body, if_match="*" if force else template.etag
            )
            return Template.from_json(document, etag)

        def published_after_all() -> Template | None:
            """The active template when it is what the failed attempt published."""
            from firebase_admin import exceptions as firebase_exceptions

            try:
                current = self._get_once()
            except firebase_exceptions.FirebaseError:
                return None
            newer = current.version_number is not None and (
                base is None or current.version_number > base
            )
            same = current.content_json() == wanted and (
                current.version is None or current.version.description == description
            )
            return current if newer and same else None

        return retry.call(
            f"publishing {self._what()}",
            attempt,
            recover=published_after_all,
            errors=_template_errors,
        )

    def rollback(self, version_number: int) -> Template:
        """Publishes stored version `version_number` again, as a new version (ROLLBACK)."""
        action = f"rolling back {self._what()} to version {version_number}"
        before = self.get().version_number or 0

        def attempt() -> Template:
            document, etag = self._request(
                "POST", ":rollback", body={"versionNumber": str(version_number)}
            )
            return Template.from_json(document, etag)

        def rolled_back_after_all() -> Template | None:
            from firebase_admin import exceptions as firebase_exceptions

            try:
                current = self._get_once()
            except firebase_exceptions.FirebaseError:
                return None
            version = current.version
            if (
                version is not None
                and version.number > before
                and version.update_type == "ROLLBACK"
                and version.rollback_source == version_number
            ):
                return current
            return None

        return retry.call(
            action, attempt, recover=rolled_back_after_all, errors=remote_config_errors
        )

    def list_versions(
        self,
        *,
        end_version_number: int | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int | None = None,
    ) -> list[Version]:
        """The stored versions, newest first (every page), within the given bounds:
        `end_version_number` the newest to include, `start_time` (inclusive) and `end_time`
        (exclusive) the update times."""
        params: dict[str, str] = {}
        if end_version_number is not None:
            params["endVersionNumber"] = str(end_version_number)
        if start_time is not None:
            params["startTime"] = _rfc3339(start_time)
        if end_time is not None:
            params["endTime"] = _rfc3339(end_time)
        if page_size is not None:
            params["pageSize"] = str(page_size)
        versions: list[Version] = []
        token = ""

        def page() -> JsonObject:
            query = {**params, "pageToken": token} if token else params
            return self._request("GET", ":listVersions", params=query)[0]

        while True:
            document = retry.call(
                f"listing the versions of {self._what()}", page, errors=remote_config_errors
            )
            versions.extend(Version.from_json(v) for v in document.get("versions") or ())
            token = str(document.get("nextPageToken") or "")
            if not token:
                return versions


def _body(template: Template, description: str) -> JsonObject:
    body = template.content_json()
    if description:
        body["version"] = {"description": description}
    return body


# ---- condition expressions ------------------------------------------------------------------
# The rules a Rollout writes, in the syntax of Remote Config's "conditional expression
# reference" (rules joined by ` && `, a space on both sides; strings in single quotes).
_PERCENT_RULE = re.compile(
    r"percent(?:\('(?P<seed>[^']*)'\))?\s*(?P<op><=|>|between)\s*(?P<a>\d+(?:\.\d+)?)"
    r"(?:\s+and\s+(?P<b>\d+(?:\.\d+)?))?"
)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _number(value: float) -> str:
    """A percentage as the console writes it: 10, 12.5 (six decimals at most)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def condition_expression(
    *,
    percent: float | None = None,
    seed: str = "",
    app_id: str | None = None,
    app_versions: Sequence[str] = (),
    min_app_version: str | None = None,
    countries: Sequence[str] = (),
) -> str:
    """A condition's expression: every given rule must hold (app id, versions, country, then
    the percentage of users, the order the Firebase console writes them in)."""
    rules: list[str] = []
    if app_id is not None:
        rules.append(f"app.id == '{app_id}'")
    if app_versions:
        rules.append(f"app.version.exactlyMatches([{_quoted(app_versions)}])")
    if min_app_version is not None:
        rules.append(f"app.version.>=(['{min_app_version}'])")
    if countries:
        rules.append(f"device.country in [{_quoted(c.lower() for c in countries)}]")
    if percent is not None:
        seeded = f"('{seed}')" if seed else ""
        rules.append(f"percent{seeded} <= {_number(percent)}")
    if not rules:
        raise ValueError("a condition needs at least one rule")
    return " && ".join(rules)


def rollout_condition_expression(condition: "RolloutCondition") -> str:
    """The expression of a Rollout spec's condition (its rules, as condition_expression)."""
    return condition_expression(
        percent=condition.percent,
        seed=condition.seed,
        app_id=condition.app_id,
        app_versions=condition.app_versions,
        min_app_version=condition.min_app_version,
        countries=condition.countries,
    )


@dataclass(frozen=True)
class PercentRule:
    """The percentage rule of an expression: the users whose percentile (for `seed`) lies in
    (low, high]."""

    seed: str
    low: float
    high: float

    @property
    def share(self) -> float:
        """The percentage of users it matches."""
        return round(self.high - self.low, 6)


def percent_rule(expression: str) -> PercentRule | None:
    """The `percent` rule of an expression (None when it has none)."""
    match = _PERCENT_RULE.search(expression)
    if match is None:
        return None
    a, b = float(match["a"]), float(match["b"] or 0)
    low, high = {"<=": (0.0, a), ">": (a, 100.0), "between": (a, b)}[match["op"]]
    return PercentRule(match["seed"] or "", low, high)
