"""Stack configuration: `Pulumi.<stack>.yaml` (namespace `edge-labeler:`) → StackConfig."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from components.spec.errors import Location, SpecError, SpecIssue
from components.spec.schema import did_you_mean, show
from components.spec.yaml_source import read_yaml_file

NAMESPACE = "edge-labeler"
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
STACK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


class TrainingApiKind(StrEnum):
    AUTOML_V1 = "automl_v1"
    VERTEX = "vertex"


class RegistryKind(StrEnum):
    FIREBASE_ML = "firebase_ml"
    STORAGE = "storage"


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """One stack's settings. `source` names where they came from (a file or Pulumi config)."""

    stack: str
    project: str
    region: str
    api: TrainingApiKind
    registry: RegistryKind
    emulator: bool
    specs: Path
    protect: bool
    training_price_per_node_hour: float | None
    source: str


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _text(pattern: re.Pattern[str] | None, rule: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected text ({rule})")
        if pattern is not None and not pattern.match(value):
            raise ValueError(f"{show(value)} is not allowed ({rule})")
        return value

    return parse


def _choice(enum: type[StrEnum]) -> Callable[[Any], Any]:
    allowed = [member.value for member in enum]

    def parse(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(
                f"{show(value)} is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}"
            )
        return enum(value)

    return parse


def _price(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not number > 0 or number == float("inf"):
        raise ValueError(f"{show(value)} is not a positive number of dollars per node hour")
    return number


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "project": _text(
        PROJECT_ID,
        "a GCP project id: 6–30 lowercase letters, digits or '-', starting with a letter",
    ),
    "region": _text(REGION, "a Google Cloud region such as us-central1"),
    "api": _choice(TrainingApiKind),
    "registry": _choice(RegistryKind),
    "emulator": _boolean,
    "specs": _text(None, "the spec directory, relative to the Pulumi project"),
    "protect": _boolean,
    "trainingPricePerNodeHour": _price,
}
KEYS = tuple(_PARSERS)


def stack_config_from_mapping(
    stack: str,
    values: Mapping[str, Any],
    source: str = "Pulumi config",
    locations: Mapping[str, Location] | None = None,
) -> StackConfig:
    """A StackConfig from config values (`project` or `edge-labeler:project` keys).

    Values may be strings as Pulumi stores them ("true", "18.0"). Keys of other
    namespaces (`gcp:project`) are ignored. Raises SpecError naming the source and key.
    """
    locations = locations or {}
    issues: list[SpecIssue] = []
    parsed: dict[str, Any] = {}

    def report(key: str, message: str) -> None:
        where = locations.get(key, Location(source))
        issues.append(SpecIssue.at(where, message, field=f"{NAMESPACE}:{key}"))

    if not STACK_NAME.match(stack):
        issues.append(SpecIssue(source, None, None, f"{stack!r} is not a stack name"))
    for raw_key, value in values.items():
        namespace, _, key = raw_key.rpartition(":")
        if namespace not in ("", NAMESPACE):
            continue
        if key not in _PARSERS:
            report(key, f"unknown setting{did_you_mean(key, KEYS)}; settings: {', '.join(KEYS)}")
            continue
        if value is None:
            continue
        if isinstance(value, Mapping):
            report(key, "must be plain text, not a mapping or a secret")
            continue
        try:
            parsed[key] = _PARSERS[key](value)
        except ValueError as exc:
            report(key, str(exc))
    if "project" not in parsed and not any(i.field == f"{NAMESPACE}:project" for i in issues):
        issues.append(
            SpecIssue(
                source,
                None,
                None,
                "required setting is missing (the GCP project id)",
                field=f"{NAMESPACE}:project",
            )
        )
    if issues:
        raise SpecError(issues)
    emulator = parsed.get("emulator", False)
    default_api = TrainingApiKind.AUTOML_V1 if emulator else TrainingApiKind.VERTEX
    return StackConfig(
        stack=stack,
        project=parsed["project"],
        region=parsed.get("region", "us-central1"),
        api=parsed.get("api", default_api),
        registry=parsed.get("registry", RegistryKind.FIREBASE_ML),
        emulator=emulator,
        specs=Path(parsed.get("specs", "specs")),
        protect=parsed.get("protect", False),
        training_price_per_node_hour=parsed.get("trainingPricePerNodeHour"),
        source=source,
    )


def stack_file(stack: str, root: Path = Path(".")) -> Path:
    """Pulumi.<stack>.yaml in the Pulumi project directory `root`."""
    return Path(root) / f"Pulumi.{stack}.yaml"


def stack_names(root: Path = Path(".")) -> tuple[str, ...]:
    """Stacks with a `Pulumi.<stack>.yaml` in the Pulumi project directory `root`, sorted."""
    files = Path(root).glob("Pulumi.*.yaml")
    names = (p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in files)
    return tuple(sorted(n for n in names if n))


def load_stack_config(stack: str, root: Path = Path(".")) -> StackConfig:
    """Read `root/Pulumi.<stack>.yaml`; raises SpecError naming the file, line and key."""
    path = stack_file(stack, root)
    display = str(path)
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise SpecError([SpecIssue(display, None, None, f"stack file not found (stacks: {known})")])
    parsed = read_yaml_file(path, display)
    if parsed.error is not None:
        raise SpecError([parsed.error])
    problems = [
        SpecIssue.at(where, message)
        for doc in parsed.documents
        for _, where, message in doc.problems
    ]
    if problems:
        raise SpecError(problems)
    doc = parsed.documents[0] if parsed.documents else None
    data = doc.data if doc is not None else None
    config = data.get("config") if isinstance(data, dict) else None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        where = doc.value_location(("config",)) if doc else Location(display)
        raise SpecError(
            [SpecIssue.at(where, f"expected a mapping, got {show(config)}", field="config")]
        )
    locations: dict[str, Location] = {}
    for raw_key in config:
        namespace, _, key = raw_key.rpartition(":")
        if namespace == NAMESPACE and doc is not None:
            locations[key] = doc.value_location(("config", raw_key))
    return stack_config_from_mapping(stack, config, display, locations)
