"""Firebase Remote Config templates: validation, publishing with ETags, versions, rollback.

Behaviour of the service (REST v1 `projects.remoteConfig`, emulator/FIDELITY.md lists every
choice and its source):
- A project has one template per namespace: `firebase` (apps fetch it) and `firebase-server`
  (server SDKs fetch it). "We treat this as an always-existing resource (when it is not found
  in our data store, we treat it as version 0, a template with zero conditions and zero
  parameters)" (updateRemoteConfig, discovery document).
- Every publish and every rollback is a new version, numbered one above the one it replaced;
  the active template is the newest. "Only the last 300 versions are stored. All versions that
  correspond to non-active Remote Config templates ... are also deleted if they are older than
  90 days." (listVersions).
- The ETag is `etag-<project number>-<version number>` (firebase-admin-node's integration test,
  run against Google, expects /^etag-[0-9]*-[0-9]*$/; its unit tests use etag-123456789012-6).
  A publish must send it as `If-Match`, or `*` to force: "VERSION_MISMATCH (HTTP status 412)
  when ... the expected eTag ... is not specified, or is specified but does not match the
  current eTag". A validation (`validateOnly`) writes nothing and answers the ETag with the
  suffix `-0` (publishing guide: "an updated etag with the suffix -0 means that your update was
  successfully validated").
- Rolling back "is equivalent to getting a previously published Remote Config template, and
  re-publishing it using a force update"; the new version says `ROLLBACK`, `rollbackSource` and
  "Rollback to version N" (firebase-admin-node's integration test). A version that is not
  stored: HTTP 404.
- Validation: emulator/core/remote_config_conditions.py for expressions; the template rules are
  in `validate_template` below. Errors are HTTP 400 with Google's `[VALIDATION_ERROR]: ...`
  form; where Google's text is known it is used.

State: `<root>/<project>/<namespace>/<version>.json`, one atomic file per version (the template
and its version metadata), loaded on first use of the project's namespace.
"""

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.core.errors import FailedPrecondition, InvalidArgument, NotFound
from emulator.core.persistence import atomic_write_json, read_json, remove_file
from emulator.core.remote_config_conditions import (
    AppInstance,
    Condition,
    ConditionSyntaxError,
    evaluate,
    parse_condition,
    server_condition_json,
)

CLIENT = "firebase"
SERVER = "firebase-server"
NAMESPACES = (CLIENT, SERVER)

# Limits. Where the sources disagree the emulator keeps the strictest, so that a template that
# passes here passes on Google (FIDELITY.md names each source).
MAX_PARAMETERS = 2000  # "more than the allowed number of keys---2000---... Param count too large"
MAX_CONDITIONS = 500
MAX_KEY_LENGTH = 256
MAX_CONDITION_NAME_LENGTH = 256
MAX_PARAMETER_DESCRIPTION = 100  # Admin SDK: "Should not be over 100 characters"
MAX_GROUP_NAME_LENGTH = 256
MAX_GROUP_DESCRIPTION = 256
MAX_VERSION_DESCRIPTION = 1024
MAX_TOTAL_VALUE_LENGTH = 1_000_000  # "Sum of all parameter value strings"
MAX_STORED_VERSIONS = 300
VERSION_LIFETIME = timedelta(days=90)
MAX_PAGE_SIZE = 300

PARAMETER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONDITION_NAME = re.compile(r"[-_0-9a-zA-Z '!%.]+")
NUMBER_VALUE = re.compile(r"-?(?:\d*\.)?\d+")
TAG_COLORS = (
    "CONDITION_DISPLAY_COLOR_UNSPECIFIED",
    "BLUE",
    "BROWN",
    "CYAN",
    "DEEP_ORANGE",
    "GREEN",
    "INDIGO",
    "LIME",
    "ORANGE",
    "PINK",
    "PURPLE",
    "TEAL",
)
VALUE_TYPES = ("PARAMETER_VALUE_TYPE_UNSPECIFIED", "STRING", "BOOLEAN", "NUMBER", "JSON")
# Values that A/B Testing, Personalization and Rollouts (the Firebase products) manage.
MANAGED_VALUES = ("rolloutValue", "personalizationValue", "experimentValue")

INCREMENTAL_UPDATE = "INCREMENTAL_UPDATE"
FORCED_UPDATE = "FORCED_UPDATE"
ROLLBACK = "ROLLBACK"
REST_API = "REST_API"
ADMIN_SDK_NODE = "ADMIN_SDK_NODE"

_TEMPLATE_FIELDS = {"conditions", "parameters", "parameterGroups", "version"}
_CONDITION_FIELDS = {"name", "expression", "tagColor"}
_PARAMETER_FIELDS = {"defaultValue", "conditionalValues", "description", "valueType"}
_VALUE_FIELDS = {"value", "useInAppDefault", *MANAGED_VALUES}
_GROUP_FIELDS = {"description", "parameters"}
_VERSION_FIELDS = {
    "versionNumber",
    "updateTime",
    "updateUser",
    "description",
    "updateOrigin",
    "updateType",
    "rollbackSource",
    "isLegacy",
}
_ETAG = re.compile(r'(?:W/)?"?etag-(?P<project>\d+)-(?P<version>\d+)"?')


class TemplateInvalid(InvalidArgument):
    """A template the service refuses: HTTP 400, `[VALIDATION_ERROR]: ...`."""

    def __init__(self, message: str) -> None:
        super().__init__(f"[VALIDATION_ERROR]: {message}")


class VersionMismatch(FailedPrecondition):
    """The If-Match ETag is missing or not the current one: HTTP 412, `[VERSION_MISMATCH]`."""

    http_status = 412

    def __init__(self, message: str) -> None:
        super().__init__(f"[VERSION_MISMATCH]: {message}")


def _payload_error(path: str, problem: str) -> InvalidArgument:
    """A body that does not fit RemoteConfig's JSON: Google's front end's wording."""
    return InvalidArgument(f"Invalid JSON payload received. {problem} at '{path}'.")


def _unknown(data: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidArgument(
            f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{path}': "
            "Cannot find field."
        )


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _payload_error(path, f"Expected an object, found {json.dumps(value)[:60]}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _payload_error(path, f"Expected a string, found {json.dumps(value)[:60]}")
    return value


def project_number(project: str) -> str:
    """The project's number: the id itself when it is one, else 12 digits derived from the id."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)


def etag(project: str, version_number: int) -> str:
    return f"etag-{project_number(project)}-{version_number}"


# ---- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """A template version's metadata (all output only, except `description`)."""

    number: int
    update_time: datetime
    update_user: str
    update_origin: str
    update_type: str
    description: str = ""
    rollback_source: int | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "versionNumber": str(self.number),
            "updateTime": timestamp(self.update_time),
            "updateUser": {"email": self.update_user},
            "updateOrigin": self.update_origin,
            "updateType": self.update_type,
        }
        if self.description:
            doc["description"] = self.description
        if self.rollback_source is not None:
            doc["rollbackSource"] = str(self.rollback_source)
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Version":
        source = data.get("rollbackSource")
        return cls(
            number=int(data["versionNumber"]),
            update_time=datetime.fromisoformat(data["updateTime"].replace("Z", "+00:00")),
            update_user=data["updateUser"]["email"],
            update_origin=data["updateOrigin"],
            update_type=data["updateType"],
            description=data.get("description", ""),
            rollback_source=int(source) if source is not None else None,
        )


@dataclass(frozen=True)
class Template:
    """A validated template: its content as JSON (the wire's spelling) and its version."""

    conditions: tuple[dict[str, Any], ...] = ()
    parameters: Mapping[str, Any] | None = None
    parameter_groups: Mapping[str, Any] | None = None
    version: Version | None = None

    def content_json(self) -> dict[str, Any]:
        """conditions, parameters and parameterGroups, each only when not empty (proto3 JSON)."""
        doc: dict[str, Any] = {}
        if self.conditions:
            doc["conditions"] = [dict(c) for c in self.conditions]
        if self.parameters:
            doc["parameters"] = dict(self.parameters)
        if self.parameter_groups:
            doc["parameterGroups"] = dict(self.parameter_groups)
        return doc

    def to_json(self) -> dict[str, Any]:
        doc = self.content_json()
        if self.version is not None:
            doc["version"] = self.version.to_json()
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Template":
        """A template the emulator wrote (not validated again)."""
        version = data.get("version")
        return cls(
            conditions=tuple(data.get("conditions", ())),
            parameters=data.get("parameters") or None,
            parameter_groups=data.get("parameterGroups") or None,
            version=Version.from_json(version) if version and "versionNumber" in version else None,
        )

    def all_parameters(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(key, parameter) of the ungrouped parameters, then of each group's."""
        yield from (self.parameters or {}).items()
        for group in (self.parameter_groups or {}).values():
            yield from group.get("parameters", {}).items()


@dataclass(frozen=True)
class Published:
    """A template as the service answers it: the template and its ETag header.

    `validated_only`: the answer of a validation, whose version is only its description.
    """

    template: Template
    etag: str
    validated_only: bool = False

    def to_json(self) -> dict[str, Any]:
        if not self.validated_only:
            return self.template.to_json()
        doc = self.template.content_json()
        if self.template.version is not None and self.template.version.description:
            doc["version"] = {"description": self.template.version.description}
        return doc


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds (`2020-06-15T16:45:03.000Z`, as the service writes)."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str, field: str) -> datetime:
    """An RFC 3339 timestamp (up to nine fractional digits, `Z` or an offset)."""
    match = re.fullmatch(
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text.strip()
    )
    if match is None:
        raise InvalidArgument(
            f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp), "
            f"Field '{field}', Illegal timestamp format; timestamps must end with 'Z' or have "
            f"the timezone offset specified: {text!r}"
        )
    fraction = (match[2] or "0").ljust(6, "0")[:6]
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(f"{match[1]}.{fraction}{zone}")


# ---- validation -----------------------------------------------------------------------------


def _validate_value(value: Any, path: str, value_type: str, default: bool) -> int:
    """Checks one parameter value; returns the length of its string (for the total limit)."""
    value = _object(value, path)
    _unknown(value, _VALUE_FIELDS, path)
    kinds = [k for k in ("value", "useInAppDefault", *MANAGED_VALUES) if k in value]
    if len(kinds) != 1:
        raise TemplateInvalid(
            f"{path} must set exactly one of value, useInAppDefault, rolloutValue, "
            f"personalizationValue and experimentValue; it sets {kinds or 'none'}"
        )
    kind = kinds[0]
    if kind in MANAGED_VALUES:
        where = "defaultValue cannot use it" if default else "not served by the emulator"
        raise TemplateInvalid(
            f"{path}.{kind}: {where} (values of A/B Testing, Personalization and Rollouts are "
            "managed by those products)"
        )
    if kind == "useInAppDefault":
        if value["useInAppDefault"] is not True:
            raise TemplateInvalid(f"{path}.useInAppDefault must be true when set")
        return 0
    text = _string(value["value"], f"{path}.value")
    if value_type == "BOOLEAN" and text.lower() not in ("true", "false"):
        raise TemplateInvalid(f"{path}.value {text!r} is not a BOOLEAN: true or false")
    if value_type == "NUMBER" and NUMBER_VALUE.fullmatch(text) is None:
        raise TemplateInvalid(f"{path}.value {text!r} is not a NUMBER (e.g. 42, -0.5)")
    if value_type == "JSON":
        try:
            json.loads(text)
        except ValueError as exc:
            raise TemplateInvalid(f"{path}.value is not valid JSON: {exc}") from None
    return len(text)


def _validate_parameter(key: str, parameter: Any, path: str, conditions: set[str]) -> int:
    parameter = _object(parameter, path)
    _unknown(parameter, _PARAMETER_FIELDS, path)
    if len(key) > MAX_KEY_LENGTH or PARAMETER_KEY.fullmatch(key) is None:
        raise TemplateInvalid(
            f"Parameter key {key!r} is invalid: 1 to {MAX_KEY_LENGTH} characters, starting with "
            "an underscore or an English letter (A-Z, a-z), then letters, digits and underscores"
        )
    value_type = parameter.get("valueType", "STRING")
    if value_type not in VALUE_TYPES:
        raise InvalidArgument(
            f"Invalid value at '{path}.value_type' "
            f"(type.googleapis.com/google.firebase.remoteconfig.v1.ParameterValueType), "
            f"{json.dumps(value_type)}"
        )
    description = _string(parameter.get("description", ""), f"{path}.description")
    if len(description) > MAX_PARAMETER_DESCRIPTION:
        raise TemplateInvalid(
            f"The description of parameter {key!r} has {len(description)} characters; at most "
            f"{MAX_PARAMETER_DESCRIPTION}"
        )
    total = 0
    if "defaultValue" in parameter:
        total += _validate_value(
            parameter["defaultValue"], f"{path}.defaultValue", value_type, True
        )
    conditional = _object(parameter.get("conditionalValues", {}), f"{path}.conditionalValues")
    unknown = [name for name in conditional if name not in conditions]
    if unknown:
        # Google's text (firebase-admin-node's unit test fixture).
        raise TemplateInvalid(
            f"[{', '.join(unknown)}] are not valid condition names. All keys in all conditional "
            "value maps must be valid condition names."
        )
    for name, value in conditional.items():
        total += _validate_value(value, f"{path}.conditionalValues[{name!r}]", value_type, False)
    return total


def _validate_conditions(raw: Any, namespace: str) -> tuple[dict[str, Any], ...]:
    conditions = raw if isinstance(raw, list) else None
    if conditions is None:
        raise _payload_error("remote_config.conditions", "Expected a list")
    if len(conditions) > MAX_CONDITIONS:
        raise TemplateInvalid(
            f"Condition count too large: {len(conditions)} conditions; at most {MAX_CONDITIONS}"
        )
    names: set[str] = set()
    checked = []
    for i, condition in enumerate(conditions):
        path = f"remote_config.conditions[{i}]"
        condition = _object(condition, path)
        _unknown(condition, _CONDITION_FIELDS, path)
        name = _string(condition.get("name", ""), f"{path}.name")
        if not name:
            raise TemplateInvalid(f"Condition {i} has no name; a condition's name is required")
        if (
            len(name) > MAX_CONDITION_NAME_LENGTH
            or name != name.strip()
            or CONDITION_NAME.fullmatch(name) is None
        ):
            raise TemplateInvalid(
                f"Condition name {name!r} is invalid: 1 to {MAX_CONDITION_NAME_LENGTH} of the "
                "characters A-Z a-z 0-9 - _ . ' ! % and spaces, without leading or trailing "
                "spaces"
            )
        if name in names:
            raise TemplateInvalid(f"Duplicate condition name {name!r}: condition names are unique")
        names.add(name)
        expression = _string(condition.get("expression", ""), f"{path}.expression")
        try:
            parse_condition(expression, server=namespace == SERVER)
        except ConditionSyntaxError as exc:
            raise TemplateInvalid(
                f"Invalid expression {expression!r} of condition {name!r}: {exc}"
            ) from None
        color = condition.get("tagColor")
        if color is not None and color not in TAG_COLORS:
            raise InvalidArgument(
                f"Invalid value at '{path}.tag_color' "
                f"(type.googleapis.com/google.firebase.remoteconfig.v1.TagColor), "
                f"{json.dumps(color)}"
            )
        checked.append(dict(condition))
    return tuple(checked)


def validate_template(body: Any, namespace: str = CLIENT) -> tuple[Template, str]:
    """The template of a request body and its version description; raises what is wrong.

    Output-only fields of `version` are ignored, as the service does (firebase-admin-node sends
    only the description).
    """
    body = _object(body, "remote_config")
    _unknown(body, _TEMPLATE_FIELDS, "remote_config")
    conditions = _validate_conditions(body.get("conditions", []), namespace)
    names = {c["name"] for c in conditions}
    parameters = _object(body.get("parameters", {}), "remote_config.parameters")
    groups = _object(body.get("parameterGroups", {}), "remote_config.parameter_groups")
    keys: set[str] = set()
    total = 0
    count = len(parameters) + sum(
        len(g["parameters"])
        for g in groups.values()
        if isinstance(g, dict) and isinstance(g.get("parameters"), dict)
    )
    if count > MAX_PARAMETERS:
        # Google's text (publishing guide).
        raise TemplateInvalid(
            f"Param count too large: {count} parameters; at most {MAX_PARAMETERS}"
        )
    for key, parameter in parameters.items():
        total += _validate_parameter(key, parameter, f"remote_config.parameters[{key!r}]", names)
        keys.add(key)
    for group_name, group in groups.items():
        path = f"remote_config.parameter_groups[{group_name!r}]"
        group = _object(group, path)
        _unknown(group, _GROUP_FIELDS, path)
        if not group_name or len(group_name) > MAX_GROUP_NAME_LENGTH:
            raise TemplateInvalid(
                f"Parameter group name {group_name!r}: 1 to {MAX_GROUP_NAME_LENGTH} characters"
            )
        description = _string(group.get("description", ""), f"{path}.description")
        if len(description) > MAX_GROUP_DESCRIPTION:
            raise TemplateInvalid(
                f"The description of parameter group {group_name!r} has {len(description)} "
                f"characters; at most {MAX_GROUP_DESCRIPTION}"
            )
        members = _object(group.get("parameters", {}), f"{path}.parameters")
        for key, parameter in members.items():
            if key in keys:
                raise TemplateInvalid(
                    f"Duplicate parameter key {key!r}: a parameter appears once in a template "
                    f"(ungrouped or in one group; it is also in group {group_name!r})"
                )
            total += _validate_parameter(key, parameter, f"{path}.parameters[{key!r}]", names)
            keys.add(key)
    if total > MAX_TOTAL_VALUE_LENGTH:
        raise TemplateInvalid(
            f"The parameter values total {total} characters; at most {MAX_TOTAL_VALUE_LENGTH}"
        )
    version = _object(body.get("version", {}), "remote_config.version")
    _unknown(version, _VERSION_FIELDS, "remote_config.version")
    description = _string(version.get("description", ""), "remote_config.version.description")
    if len(description) > MAX_VERSION_DESCRIPTION:
        raise TemplateInvalid(
            f"The version description has {len(description)} characters; at most "
            f"{MAX_VERSION_DESCRIPTION}"
        )
    template = Template(
        conditions=conditions,
        parameters=parameters or None,
        parameter_groups=groups or None,
    )
    return template, description


# ---- evaluation -----------------------------------------------------------------------------


def resolve(template: Template, instance: AppInstance) -> dict[str, str]:
    """The parameter values one app instance gets from the template.

    "Given the conditional values that refer to true conditions for the application instance,
    the parameter's resolved value is the conditional value whose name is the earliest in the
    conditions list. Else, if the parameter has a default value, the resolved value is set to the
    default value. Else, the parameter has no value and is omitted" (RemoteConfig reference).
    A value `useInAppDefault` is omitted too: the app keeps its in-app default.
    """
    parsed: list[tuple[str, Condition]] = [
        (c["name"], parse_condition(c["expression"])) for c in template.conditions
    ]
    true = [name for name, condition in parsed if evaluate(condition, instance)]
    values: dict[str, str] = {}
    for key, parameter in template.all_parameters():
        conditional = parameter.get("conditionalValues", {})
        chosen = next((conditional[n] for n in true if n in conditional), None)
        if chosen is None:
            chosen = parameter.get("defaultValue")
        if chosen is not None and "value" in chosen:
            values[key] = chosen["value"]
    return values


def server_template_json(template: Template) -> dict[str, Any]:
    """A server template as `serverRemoteConfig` serves it: conditions as OneOfCondition JSON."""
    doc = template.to_json()
    doc.pop("parameterGroups", None)
    if template.conditions:
        doc["conditions"] = [
            {
                "name": c["name"],
                "condition": server_condition_json(parse_condition(c["expression"], server=True)),
            }
            for c in template.conditions
        ]
    # Grouped parameters are served flat: apps and servers read parameters by key.
    parameters = dict(template.all_parameters())
    if parameters:
        doc["parameters"] = parameters
    return doc


# ---- the store ------------------------------------------------------------------------------

_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,100}")


def check_name(project: str, namespace: str) -> None:
    """InvalidArgument for a project id or namespace the service would not know."""
    if _PROJECT.fullmatch(project) is None or ".." in project:
        raise InvalidArgument(f"{project!r} is not a project id or project number")
    if namespace not in NAMESPACES:
        raise NotFound(
            f"Namespace {namespace!r} was not found; Remote Config's namespaces are "
            f"{' and '.join(NAMESPACES)}"
        )


class RemoteConfigStore:
    """Every project's Remote Config templates; thread-safe, one JSON file per version."""

    def __init__(
        self,
        root: Path,
        *,
        max_versions: int = MAX_STORED_VERSIONS,
        version_lifetime: timedelta = VERSION_LIFETIME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._root = root
        self.max_versions = max_versions
        self.version_lifetime = version_lifetime
        self._clock = clock
        self._versions: dict[tuple[str, str], dict[int, Template]] = {}
        self._lock = threading.RLock()

    # ---- persistence ----------------------------------------------------------------------

    def _dir(self, project: str, namespace: str) -> Path:
        return self._root / project / namespace

    def _loaded(self, project: str, namespace: str) -> dict[int, Template]:
        """The stored versions (number → template), newest last. Caller holds the lock."""
        check_name(project, namespace)
        key = (project, namespace)
        versions = self._versions.get(key)
        if versions is None:
            versions = {}
            directory = self._dir(project, namespace)
            for path in directory.glob("*.json") if directory.exists() else ():
                if path.stem.isdigit():
                    versions[int(path.stem)] = Template.from_json(read_json(path) or {})
            versions = dict(sorted(versions.items()))
            self._versions[key] = versions
        self._expire(project, namespace, versions)
        return versions

    def _expire(self, project: str, namespace: str, versions: dict[int, Template]) -> None:
        """Drops what the service no longer stores: beyond the newest `max_versions`, and
        non-active versions older than `version_lifetime`."""
        numbers = sorted(versions)
        if not numbers:
            return
        active = numbers[-1]
        cutoff = self._clock() - self.version_lifetime
        doomed = numbers[: max(0, len(numbers) - self.max_versions)]
        for number in numbers[:-1]:
            version = versions[number].version
            if version is not None and version.update_time < cutoff and number not in doomed:
                doomed.append(number)
        for number in doomed:
            if number != active:
                remove_file(self._dir(project, namespace) / f"{number}.json")
                del versions[number]

    def _current(self, project: str, namespace: str) -> tuple[int, Template]:
        versions = self._loaded(project, namespace)
        if not versions:
            return 0, Template()
        number = max(versions)
        return number, versions[number]

    def _write(self, project: str, namespace: str, template: Template) -> Published:
        """Stores a new version (the active one). Caller holds the lock."""
        assert template.version is not None
        path = self._dir(project, namespace) / f"{template.version.number}.json"
        atomic_write_json(path, template.to_json())
        versions = self._loaded(project, namespace)
        versions[template.version.number] = template
        self._expire(project, namespace, versions)
        return Published(template, etag(project, template.version.number))

    # ---- methods --------------------------------------------------------------------------

    def get(
        self, project: str, namespace: str = CLIENT, version_number: int | None = None
    ) -> Published:
        """The active template, or a stored version."""
        with self._lock:
            if version_number is None:
                number, template = self._current(project, namespace)
                return Published(template, etag(project, number))
            if version_number <= 0:
                raise InvalidArgument(
                    f"versionNumber {version_number} is not a version number (1 or more)"
                )
            found = self._loaded(project, namespace).get(version_number)
            if found is None:
                raise self._version_not_found(project, namespace, version_number)
            return Published(found, etag(project, version_number))

    def _version_not_found(self, project: str, namespace: str, number: int) -> NotFound:
        return NotFound(
            f"Version {number} of the {namespace} template of project {project} was not found "
            f"(the service keeps the last {self.max_versions} versions, and deletes inactive "
            f"ones after {self.version_lifetime.days} days)"
        )

    def publish(
        self,
        project: str,
        namespace: str,
        body: Any,
        if_match: str | None,
        *,
        validate_only: bool = False,
        origin: str = REST_API,
        user: str = "",
    ) -> Published:
        """Validates the template and, unless `validate_only`, publishes it as a new version."""
        check_name(project, namespace)
        template, description = validate_template(body, namespace)
        if validate_only:
            # Nothing is written and the ETag is not checked ("other errors may still occur"
            # when publishing after a validation that passed).
            version = Version(
                0, self._clock(), user or default_user(project), origin, INCREMENTAL_UPDATE
            )
            answer = replace(template, version=replace(version, description=description))
            return Published(answer, f"etag-{project_number(project)}-0", validated_only=True)
        with self._lock:
            number, _ = self._current(project, namespace)
            update_type = self._check_etag(project, number, if_match)
            version = Version(
                number=number + 1,
                update_time=self._clock(),
                update_user=user or default_user(project),
                update_origin=origin,
                update_type=update_type,
                description=description,
            )
            return self._write(project, namespace, replace(template, version=version))

    def _check_etag(self, project: str, current: int, if_match: str | None) -> str:
        """The update type the If-Match header asks for; VersionMismatch when it is stale."""
        number = project_number(project)
        if if_match is None or not if_match.strip():
            raise VersionMismatch(
                f"The request has no If-Match header; send the ETag of the template it "
                f"replaces (from GET), or * to force the update, for project: {number}"
            )
        if if_match.strip() == "*":
            return FORCED_UPDATE
        match = _ETAG.fullmatch(if_match.strip())
        if match is None:
            raise InvalidArgument(
                f"If-Match {if_match[:80]!r} is not an ETag of this service "
                "(etag-<project number>-<version>) nor *"
            )
        expected = int(match["version"])
        if match["project"] != number or expected != current:
            # Google's text (firebase-admin-node's unit test fixture).
            raise VersionMismatch(
                f"Expected version {expected}, found {current} for project: {number}"
            )
        return INCREMENTAL_UPDATE

    def rollback(
        self,
        project: str,
        namespace: str,
        version_number: int,
        *,
        origin: str = REST_API,
        user: str = "",
    ) -> Published:
        """Publishes a stored version again (forced) as a new version."""
        if version_number <= 0:
            raise InvalidArgument(
                f"versionNumber {version_number} is not a version number (1 or more)"
            )
        with self._lock:
            versions = self._loaded(project, namespace)
            source = versions.get(version_number)
            if source is None:
                raise self._version_not_found(project, namespace, version_number)
            number, _ = self._current(project, namespace)
            version = Version(
                number=number + 1,
                update_time=self._clock(),
                update_user=user or default_user(project),
                update_origin=origin,
                update_type=ROLLBACK,
                description=f"Rollback to version {version_number}",
                rollback_source=version_number,
            )
            return self._write(project, namespace, replace(source, version=version))

    def list_versions(
        self,
        project: str,
        namespace: str = CLIENT,
        *,
        page_size: int = 0,
        page_token: str = "",
        end_version_number: int | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> tuple[list[Version], str]:
        """Stored versions, newest first, and the next page's token ("" on the last page).

        The token is the number of the first version of the next page (as Google's is, in
        firebase-admin-node's fixtures); `end_version_number` is the newest to include,
        `start_time` the earliest update time (inclusive), `end_time` the latest (exclusive).
        """
        if page_size < 0:
            raise InvalidArgument(f"pageSize {page_size} is negative")
        if end_version_number is not None and end_version_number <= 0:
            raise InvalidArgument(
                f"endVersionNumber {end_version_number}: if specified, must be greater than zero"
            )
        newest: int | None = end_version_number
        if page_token:
            if not page_token.isdigit():
                raise InvalidArgument(
                    f"pageToken {page_token!r} is not a token this service issued"
                )
            newest = int(page_token) if newest is None else min(newest, int(page_token))
        with self._lock:
            versions = [
                t.version
                for n, t in sorted(self._loaded(project, namespace).items(), reverse=True)
                if t.version is not None and (newest is None or n <= newest)
            ]
        selected = [
            v
            for v in versions
            if (start_time is None or v.update_time >= start_time)
            and (end_time is None or v.update_time < end_time)
        ]
        size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        page, rest = selected[:size], selected[size:]
        return page, (str(rest[0].number) if rest else "")


def default_user(project: str) -> str:
    """Who the emulator records as having published (it has no authentication)."""
    return f"firebase-adminsdk@{project}.iam.gserviceaccount.com"
