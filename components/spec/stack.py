"""Stack configuration: `Pulumi.<stack>.yaml` (namespace `edge-labeler:`) → StackConfig.

Also the promotion paths it declares: `edge-labeler:promoteFrom` lists the stacks a stack may
take a pinned model from (`promoted: {from: …}` in its overlay, written by `edgectl promote`).
A stack that declares none accepts no promotion, and an emulator stack is never a source for
a stack that is not one, whatever is declared. `promotion_refusal` and `pin_issues` are the
one check that `edgectl promote`, `validate`, `review` and the Pulumi program apply.

Two settings say how the providers authenticate to Google, not what they deploy
(ACCESS_KEYS): `impersonateServiceAccount` and `credentials` (a service-account key, always
a secret). They may be Pulumi secrets (`pulumi config set --secret`): a StackConfig records
that they are set, never their value — the providers read the value from the stack's
configuration themselves (components/cloud/clients.py), so it is in no resource's inputs,
outputs or state, and nothing that renders a StackConfig can show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from components.spec.documents import SpecSet
from components.spec.errors import Location, SpecError, SpecIssue
from components.spec.schema import did_you_mean, show
from components.spec.yaml_source import YamlDocument, read_yaml_file

NAMESPACE = "edge-labeler"
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
STACK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
PROMOTE_FROM = "promoteFrom"
PROMOTE_FROM_KEY = f"{NAMESPACE}:{PROMOTE_FROM}"
SERVICE_ACCOUNT = re.compile(
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$"
)
ADOPT = "adopt"
ADOPT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}-[a-z]+$")  # a resource: `<document>-<role>`
IMPERSONATE = "impersonateServiceAccount"
CREDENTIALS = "credentials"
ACCESS_KEYS = (IMPERSONATE, CREDENTIALS)  # may be secrets; never held as values here


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
    promote_from: tuple[str, ...] = ()  # stacks it may take a pinned model from, as declared
    # How the providers authenticate (ACCESS_KEYS): each set key and whether it is a secret.
    access: tuple[tuple[str, bool], ...] = ()
    # Existing cloud resources to bring under the specs: resource name → its id (`pulumi up`
    # imports each with the `import_` resource option).
    adopt: tuple[tuple[str, str], ...] = ()


class Secret:
    """A setting given as a Pulumi secret: `{secure: …}` in a stack file, or a key the Pulumi
    runtime lists as secret. It holds no value — neither the plain text nor the ciphertext."""

    def __repr__(self) -> str:
        return "[secret]"


SECRET = Secret()


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


ADOPT_RULE = "a mapping of resource names (`<document>-<role>`, e.g. digits-model) to cloud ids"


def _adopt(value: Any) -> tuple[tuple[str, str], ...]:
    """Resource name → cloud id: a YAML mapping, or the JSON text `pulumi.Config` hands over."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{show(value)} is not allowed ({ADOPT_RULE})") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected {ADOPT_RULE}, got {show(value)}")
    for name, id_ in value.items():
        if not isinstance(name, str) or not ADOPT_NAME.match(name):
            raise ValueError(f"{show(name)} is not a resource name ({ADOPT_RULE})")
        if not isinstance(id_, str) or not id_ or len(id_) > 1024:
            raise ValueError(f"{name}: {show(id_)} is not a cloud id ({ADOPT_RULE})")
    return tuple(sorted(value.items()))


STACK_LIST_RULE = "a list of stack names, e.g. [staging]"


def _stacks(value: Any) -> tuple[str, ...]:
    """Stack names: a YAML list, the JSON text `pulumi.Config` hands a list over as, or one name."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{show(value)} is not allowed ({STACK_LIST_RULE})") from None
    elif isinstance(value, str):
        value = [value]  # `pulumi config set edge-labeler:promoteFrom staging`
    if not isinstance(value, list):
        raise ValueError(f"expected {STACK_LIST_RULE}, got {show(value)}")
    bad = [v for v in value if not isinstance(v, str) or not STACK_NAME.match(v)]
    if bad:
        raise ValueError(f"{show(bad[0])} is not allowed ({STACK_LIST_RULE})")
    return tuple(value)


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
    PROMOTE_FROM: _stacks,
    IMPERSONATE: _text(
        SERVICE_ACCOUNT,
        "a service account's email, e.g. deployer@my-project.iam.gserviceaccount.com",
    ),
    CREDENTIALS: lambda value: _plain_credentials(),
    ADOPT: _adopt,
}
KEYS = tuple(_PARSERS)


def _plain_credentials() -> str:
    raise ValueError(
        "a service-account key must be a secret: set it with "
        f"`pulumi config set --secret {NAMESPACE}:{CREDENTIALS} < key.json` (or use "
        f"{NAMESPACE}:{IMPERSONATE}, Workload Identity Federation or Application Default "
        "Credentials, which need no key)"
    )


def _is_secret(value: Any) -> bool:
    """`{secure: <ciphertext>}` as `pulumi config set --secret` writes it, or SECRET."""
    if isinstance(value, Secret):
        return True
    return isinstance(value, Mapping) and list(value) == ["secure"]


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

    def report(key: str, message: str) -> None:
        where = locations.get(key, Location(source))
        issues.append(SpecIssue.at(where, message, field=f"{NAMESPACE}:{key}"))

    if not STACK_NAME.match(stack):
        issues.append(SpecIssue(source, None, None, f"{stack!r} is not a stack name"))
    parsed = _parse_settings(values, report)
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
    return _with_defaults(stack, parsed, source)


def _parse_settings(
    values: Mapping[str, Any], report: Callable[[str, str], None]
) -> dict[str, Any]:
    """The settings of this project's namespace, parsed.

    `report(key, message)` hears of the unknown and the invalid ones.
    """
    parsed: dict[str, Any] = {}
    for raw_key, value in values.items():
        namespace, _, key = raw_key.rpartition(":")
        if namespace not in ("", NAMESPACE):
            continue
        if key not in _PARSERS:
            report(key, f"unknown setting{did_you_mean(key, KEYS)}; settings: {', '.join(KEYS)}")
            continue
        if value is None:
            continue
        if _is_secret(value) and key in ACCESS_KEYS:
            parsed[key] = SECRET  # its value is the providers' to read, never ours
            continue
        if _is_secret(value):
            report(
                key,
                "must be plain text, not a secret (only "
                f"{' and '.join(f'{NAMESPACE}:{k}' for k in ACCESS_KEYS)} may be secrets)",
            )
            continue
        if isinstance(value, Mapping) and key != ADOPT:
            report(key, "must be plain text, not a mapping")
            continue
        try:
            parsed[key] = _PARSERS[key](value)
        except ValueError as exc:
            report(key, str(exc))
    return parsed


def _with_defaults(stack: str, parsed: Mapping[str, Any], source: str) -> StackConfig:
    """The StackConfig of valid parsed settings, defaults filled in."""
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
        promote_from=parsed.get(PROMOTE_FROM, ()),
        access=tuple((k, parsed[k] is SECRET) for k in ACCESS_KEYS if k in parsed),
        adopt=parsed.get(ADOPT, ()),
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
    """Read `root/Pulumi.<stack>.yaml`; raises SpecError naming the file, line and key.

    The promotion sources it declares are checked against the other stacks' files too.
    """
    config, doc, raw_keys = _read_stack_file(stack, root)
    issues = _declared_source_issues(config, doc, raw_keys.get(PROMOTE_FROM), root)
    if issues:
        raise SpecError(issues)
    return config


def _read_stack_file(
    stack: str, root: Path
) -> tuple[StackConfig, YamlDocument | None, dict[str, str]]:
    """The stack file's config, its YAML document and the keys as written (`project` → raw)."""
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
    raw_keys: dict[str, str] = {}
    for raw_key in config:
        namespace, _, key = raw_key.rpartition(":")
        if namespace == NAMESPACE and doc is not None:
            locations[key] = doc.value_location(("config", raw_key))
            raw_keys[key] = raw_key
    return stack_config_from_mapping(stack, config, display, locations), doc, raw_keys


def _stack_or_none(stack: str, root: Path) -> StackConfig | None:
    """Another stack's config, for its `emulator` flag; None when its file does not load."""
    try:
        return _read_stack_file(stack, root)[0]
    except SpecError:
        return None


def _is_emulator(stack: str, root: Path) -> bool:
    source = _stack_or_none(stack, root)
    return source is not None and source.emulator


def _is_cloud(stack: str, root: Path) -> bool:
    config = _stack_or_none(stack, root)
    return config is not None and not config.emulator


def _declared_source_issues(
    config: StackConfig, doc: YamlDocument | None, raw_key: str | None, root: Path
) -> list[SpecIssue]:
    """Errors of the sources `config` declares: itself, a stack without a file, an emulator."""
    known = stack_names(root)
    issues = []
    for index, source in enumerate(config.promote_from):
        if source == config.stack:
            problem = "a stack cannot promote from itself"
        elif source not in known:
            problem = (
                f"stack '{source}' has no Pulumi.{source}.yaml{did_you_mean(source, known)}; "
                f"stacks: {', '.join(known) or 'none'}"
            )
        elif _is_emulator(source, root) and not config.emulator:
            cloud = [s for s in known if s != config.stack and _is_cloud(s, root)]
            problem = (
                f"'{source}' is an emulator stack ({NAMESPACE}:emulator: true in "
                f"Pulumi.{source}.yaml): it is never a source for the non-emulator stack "
                f"'{config.stack}'; list stacks that are not emulators "
                f"(here: {', '.join(cloud) or 'none'})"
            )
        else:
            continue
        where = (
            doc.value_location(("config", raw_key, index))
            if doc is not None and raw_key is not None
            else Location(config.source)
        )
        issues.append(SpecIssue.at(where, problem, field=f"{PROMOTE_FROM_KEY}[{index}]"))
    return issues


def allowed_sources(target: StackConfig, root: Path = Path(".")) -> tuple[str, ...]:
    """The stacks `target` may take a pinned model from: what it declares, less emulator stacks
    when it is not one (`root`: the Pulumi project directory, for the other stacks' files)."""
    return tuple(
        s
        for s in target.promote_from
        if s != target.stack and (target.emulator or not _is_emulator(s, root))
    )


def promotion_refusal(target: StackConfig, from_stack: str, root: Path = Path(".")) -> str | None:
    """Why stack `target` may not take a model pinned from `from_stack`, with the sources it
    allows; None when its declared promotion path allows it."""
    stack = target.stack
    if from_stack == stack:
        why = f"stack '{stack}' cannot promote from itself"
    elif not target.emulator and _is_emulator(from_stack, root):
        why = (
            f"'{from_stack}' is an emulator stack ({NAMESPACE}:emulator: true in "
            f"Pulumi.{from_stack}.yaml): it is never a source for the non-emulator stack "
            f"'{stack}', whatever {PROMOTE_FROM_KEY} declares"
        )
    elif from_stack not in target.promote_from:
        why = f"'{from_stack}' is not a promotion source of stack '{stack}'"
    else:
        return None
    allowed = allowed_sources(target, root)
    if allowed:
        return (
            f"{why}; allowed sources: {', '.join(allowed)} "
            f"({PROMOTE_FROM_KEY} in Pulumi.{stack}.yaml)"
        )
    if target.promote_from:  # only emulator stacks: the stack file itself does not load
        return f"{why}; {PROMOTE_FROM_KEY} in Pulumi.{stack}.yaml lists no stack it may take"
    return (
        f"{why}; stack '{stack}' accepts no promotion: set {PROMOTE_FROM_KEY} in "
        f"Pulumi.{stack}.yaml to the stacks it may take models from"
    )


def pin_issues(specs: SpecSet, config: StackConfig, root: Path = Path(".")) -> list[SpecIssue]:
    """The pinned Models of `specs` (loaded for `config.stack`) whose `promoted.from` breaks the
    stack's declared promotion path, each at the pin's file:line."""
    issues = []
    for name, model in sorted(specs.models.items()):
        if model.promoted is None:
            continue
        refusal = promotion_refusal(config, model.promoted.from_stack, root)
        if refusal is not None:
            where = model.location_of("spec.promoted.from")
            issues.append(
                SpecIssue.at(where, refusal, kind="Model", name=name, field="spec.promoted.from")
            )
    return issues
