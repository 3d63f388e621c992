"""The rules spec documents must meet: schema, per-kind rules, cross-document rules.

Per kind: the schema, then what a schema cannot say (local paths, split sums, cloud name
limits). Across documents: unique names, references, baseModel chains, unique cloud names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Literal

from components.spec.documents import Target
from components.spec.entry import Entry
from components.spec.issue_log import IssueLog
from components.spec.naming import BUCKET_NAME_PATTERN, bucket_name_problem
from components.spec.paths import root_problem
from components.spec.schema import KINDS, apply_defaults, did_you_mean, show, validate_document
from components.spec.yaml_source import FieldPath

SPLIT_TOLERANCE = 1e-9
# Firebase ML display names: firebase-admin 7.7.0 checks the first pattern (so does the
# schema); the REST v1beta2 reference documents the second, stricter one.
_FIREBASE_SDK_DISPLAY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_FIREBASE_REST_DISPLAY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_REFERENCES: dict[str, tuple[tuple[FieldPath, str], ...]] = {
    "Dataset": ((("spec", "bucket"), "Bucket"),),
    "Model": ((("spec", "dataset"), "Dataset"), (("spec", "baseModel", "model"), "Model")),
    "Publication": ((("spec", "model"), "Model"), (("spec", "bucket"), "Bucket")),
}
_BASE_MODEL: FieldPath = ("spec", "baseModel", "model")
# A Remote Config percent seed (`percent('seed')`): the Admin SDK's PercentCondition.seed rule.
_PERCENT_SEED = re.compile(r"^[-_.0-9a-zA-Z]{1,32}$")
_CONDITION_RULES = ("percent", "appId", "appVersions", "minAppVersion", "countries")


def listed(kind: str, names: Sequence[str]) -> str:
    """`Bucket documents: a, b` (the names a reference may use), or that there are none."""
    return f"{kind} documents: {', '.join(names)}" if names else f"there are no {kind} documents"


# -- one document ----------------------------------------------------------------------
def validate(entry: Entry, root: Path, log: IssueLog) -> None:
    """Schema, then the rules a schema cannot say; marks the entry invalid on any error.

    The latter also run on documents with schema errors (each guards its own types), so
    one run reports both.
    """
    problems = validate_document(entry.kind, entry.doc)
    unreadable = {(path, where) for path, where, _ in entry.doc.problems}
    for path, where, message in problems:
        if (path, where) not in unreadable:  # a bad YAML value is already reported
            log.error(where, message, path, **entry.context())
    if problems or entry.doc.problems:
        entry.valid = False
    entry.data = apply_defaults(entry.kind, entry.doc.data)
    before = len(log.errors)
    _KIND_RULES[entry.kind](entry, root, log)
    if len(log.errors) > before:
        entry.valid = False


def _local_path(
    entry: Entry,
    path: FieldPath,
    want: Literal["file", "directory", "any"],
    root: Path,
    log: IssueLog,
) -> None:
    """A local path, relative to its file's directory, exists inside the project root."""
    value = entry.value(path)
    if not isinstance(value, str) or not value:
        return
    where = entry.doc.value_location(path)
    written = Path(where.file).parent / value
    shown = os.path.normpath(written)
    if (problem := root_problem(value, written, root)) is not None:
        log.error(where, problem, path, **entry.context())
        return  # checked first, so that no message tells what exists outside the root
    if Path(value).is_absolute():
        log.warn(
            where,
            "an absolute path ties the specs to one machine; use a path relative to "
            "this file's directory",
            path,
            **entry.context(),
        )
    if not written.exists():
        log.error(
            where,
            f"{shown} does not exist (paths are relative to the directory of {where.file})",
            path,
            **entry.context(),
        )
    elif want == "file" and not written.is_file():
        log.error(where, f"{shown} is a directory; expected a file", path, **entry.context())
    elif want == "directory" and not written.is_dir():
        log.error(where, f"{shown} is a file; expected a directory", path, **entry.context())


def _check_bucket(entry: Entry, root: Path, log: IssueLog) -> None:
    explicit = entry.value(("spec", "bucketName"))
    if not isinstance(explicit, str) or not BUCKET_NAME_PATTERN.match(explicit):
        return  # the schema reports the pattern
    if problem := bucket_name_problem(explicit):
        where = entry.doc.value_location(("spec", "bucketName"))
        log.error(where, f"{explicit!r} {problem}", ("spec", "bucketName"), **entry.context())


def _check_dataset(entry: Entry, root: Path, log: IssueLog) -> None:
    parts = [entry.value(("spec", "split", key)) for key in ("train", "validation", "test")]
    if all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
        train, validation, test = parts
        total = train + validation + test
        if abs(total - 1) > SPLIT_TOLERANCE:
            log.error(
                entry.doc.key_location(("spec", "split")),
                f"train {train:g} + validation {validation:g} + test {test:g} = "
                f"{round(total, 9):g}; the fractions must sum to 1 "
                "(defaults: 0.8, 0.1, 0.1)",
                ("spec", "split"),
                **entry.context(),
            )
    for key, want in _DATASET_PATHS:
        _local_path(entry, ("spec", "source", key), want, root, log)


_DATASET_PATHS: tuple[tuple[str, Literal["file", "directory", "any"]], ...] = (
    ("zip", "file"),
    ("directory", "directory"),
    ("images", "any"),
    ("labels", "file"),
)


def _check_model(entry: Entry, root: Path, log: IssueLog) -> None:
    _local_path(entry, ("spec", "baseModel", "path"), "any", root, log)


def _check_publication(entry: Entry, root: Path, log: IssueLog) -> None:
    name = entry.value(("spec", "displayName"))
    if (
        entry.value(("spec", "target")) == Target.FIREBASE_ML
        and isinstance(name, str)
        and _FIREBASE_SDK_DISPLAY_NAME.match(name)
        and not _FIREBASE_REST_DISPLAY_NAME.match(name)
    ):
        log.warn(
            entry.doc.value_location(("spec", "displayName")),
            f"{name!r} passes the firebase-admin SDK's check, but the Firebase ML REST "
            "reference allows only letters, digits and '_', starting with a letter",
            ("spec", "displayName"),
            **entry.context(),
        )


def _conditions(entry: Entry) -> list[tuple[FieldPath, dict[str, Any]]]:
    """A Rollout's conditions that are mappings, each with its path."""
    conditions = entry.value(("spec", "conditions"))
    if not isinstance(conditions, list):
        return []
    return [(("spec", "conditions", i), c) for i, c in enumerate(conditions) if isinstance(c, dict)]


def _check_rollout(entry: Entry, root: Path, log: IssueLog) -> None:
    parameter = entry.value(("spec", "parameter"))
    names: dict[str, FieldPath] = {}
    for path, condition in _conditions(entry):
        if not any(key in condition for key in _CONDITION_RULES):
            log.error(
                entry.doc.key_location(path),
                f"has no rule: give at least one of {', '.join(_CONDITION_RULES)} (a "
                "condition without rules would serve its publication to every user)",
                path,
                **entry.context(),
            )
        percent = condition.get("percent")
        if isinstance(percent, float) and round(percent, 6) != percent:
            log.error(
                entry.doc.value_location((*path, "percent")),
                f"{percent!r} has more than six decimals (Remote Config percentages have six)",
                (*path, "percent"),
                **entry.context(),
            )
        if (
            percent is not None
            and "seed" not in condition
            and isinstance(parameter, str)
            and not _PERCENT_SEED.match(parameter)
        ):
            log.error(
                entry.doc.key_location((*path, "percent")),
                "needs a seed: the default seed is the parameter key, which is not a valid "
                "seed (1–32 of A-Z a-z 0-9 - _ .); give one",
                (*path, "seed"),
                **entry.context(),
            )
        name = condition.get("name")
        if isinstance(name, str):
            if name in names:
                first = entry.doc.value_location((*names[name], "name"))
                log.error(
                    entry.doc.value_location((*path, "name")),
                    f"condition {name!r} is listed twice; first at {first}",
                    (*path, "name"),
                    **entry.context(),
                )
            else:
                names[name] = path


_KIND_RULES: dict[str, Callable[[Entry, Path, IssueLog], None]] = {
    "Bucket": _check_bucket,
    "Dataset": _check_dataset,
    "Model": _check_model,
    "Publication": _check_publication,
    "Rollout": _check_rollout,
}


# -- across documents ------------------------------------------------------------------
def check_unique_names(entries: Sequence[Entry], log: IssueLog) -> None:
    """Each kind's names are unique.

    A duplicate is marked invalid: overlays and references use the first one.
    """
    first: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        if entry.name is None:
            continue
        key = (entry.kind, entry.name)
        if key in first:
            where = first[key].doc.value_location(("metadata", "name"))
            log.error(
                entry.doc.value_location(("metadata", "name")),
                f"duplicate {entry.kind} name; first defined at {where}",
                ("metadata", "name"),
                **entry.context(),
            )
            entry.valid = False
        else:
            first[key] = entry


def cross_document(entries: Sequence[Entry], log: IssueLog) -> None:
    """The rules between valid documents; run only when every file could be parsed."""
    valid = [e for e in entries if e.valid]
    _check_references(entries, valid, log)
    models = [e for e in valid if e.kind == "Model"]
    _check_cycles(models, log)
    _check_promoted_bases(models, log)
    _check_unique_values(
        [e for e in valid if e.kind == "Publication"],
        ("spec", "displayName"),
        lambda e: (e.data["spec"]["target"], e.data["spec"]["displayName"]),
        "apps load models by this name",
        log,
    )
    _check_unique_values(
        [e for e in valid if e.kind == "Bucket" and "bucketName" in e.data["spec"]],
        ("spec", "bucketName"),
        lambda e: e.data["spec"]["bucketName"],
        "bucket names are global",
        log,
    )
    rollouts = [e for e in valid if e.kind == "Rollout"]
    _check_unique_values(
        rollouts,
        ("spec", "parameter"),
        lambda e: e.data["spec"]["parameter"],
        "a Remote Config parameter has one value per user",
        log,
    )
    _check_unique_conditions(rollouts, log)
    _check_rollout_publications(rollouts, [e for e in valid if e.kind == "Publication"], log)


def _references(entry: Entry) -> list[tuple[FieldPath, str]]:
    """The fields of a document that name another document, and the kind they name."""
    paths = list(_REFERENCES.get(entry.kind, ()))
    if entry.kind == "Rollout":
        paths.append((("spec", "publication"), "Publication"))
        paths += [((*path, "publication"), "Publication") for path, _ in _conditions(entry)]
    return paths


def _check_references(entries: Sequence[Entry], valid: Sequence[Entry], log: IssueLog) -> None:
    """A valid document names only documents that exist.

    An invalid one counts as existing: its own problems are reported already.
    """
    names: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for entry in entries:
        if entry.name is not None and entry.name not in names[entry.kind]:
            names[entry.kind].append(entry.name)
    for entry in valid:
        for path, kind in _references(entry):
            value = entry.value(path)
            if value is None or value in names[kind]:
                continue
            known = sorted(names[kind])
            log.error(
                entry.doc.value_location(path),
                f"no {kind} named {value!r}{did_you_mean(value, known)}; {listed(kind, known)}",
                path,
                **entry.context(),
            )


def _check_cycles(models: Sequence[Entry], log: IssueLog) -> None:
    """No model starts, through its baseModel chain, from its own weights."""
    by_name = {e.name: e for e in models if e.name is not None}
    base: dict[str, str] = {
        name: entry.value(_BASE_MODEL)
        for name, entry in by_name.items()
        if entry.value(_BASE_MODEL) in by_name
    }
    reported: set[frozenset[str]] = set()
    for start in sorted(base):
        chain = [start]
        current = base[start]
        while current in base and current not in chain:
            chain.append(current)
            current = base[current]
        if current not in chain:
            continue
        cycle = chain[chain.index(current) :]
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        first = min(cycle)
        rotated = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
        entry = by_name[first]
        log.error(
            entry.doc.value_location(_BASE_MODEL),
            f"baseModel cycle {' → '.join([*rotated, first])}; a model cannot start "
            "from its own weights",
            _BASE_MODEL,
            **entry.context(),
        )


def _check_promoted_bases(models: Sequence[Entry], log: IssueLog) -> None:
    """No model starts from a promoted one: it has no cloud model on this stack.

    A promoted model is copied from another stack instead of trained here.
    """
    promoted = {e.name for e in models if e.value(("spec", "promoted")) is not None}
    for entry in models:
        base = entry.value(_BASE_MODEL)
        if base in promoted:
            log.error(
                entry.doc.value_location(_BASE_MODEL),
                f"'{base}' is promoted from another stack on this stack and has no cloud "
                "model here to start from; train it here or use baseModel.path",
                _BASE_MODEL,
                **entry.context(),
            )


def _check_unique_values(
    entries: Sequence[Entry],
    path: FieldPath,
    key: Callable[[Entry], Hashable],
    why: str,
    log: IssueLog,
) -> None:
    """No two documents share the value `key` gives (first written wins)."""
    seen: dict[Hashable, Entry] = {}
    for entry in sorted(entries, key=lambda e: e.doc.value_location(path)):
        value = key(entry)
        if value in seen:
            log.error(
                entry.doc.value_location(path),
                f"{show(entry.value(path))} is already used by {entry.kind} "
                f"'{seen[value].name}' ({why})",
                path,
                **entry.context(),
            )
        else:
            seen[value] = entry


def _check_unique_conditions(rollouts: Sequence[Entry], log: IssueLog) -> None:
    """A condition name belongs to one Rollout: two would overwrite each other's condition."""
    seen: dict[str, Entry] = {}
    for entry in sorted(rollouts, key=lambda e: e.doc.start):
        for path, condition in _conditions(entry):
            name = condition.get("name")
            owner = seen.setdefault(name, entry) if isinstance(name, str) else entry
            if owner is not entry:
                log.error(
                    entry.doc.value_location((*path, "name")),
                    f"condition {name!r} is already used by Rollout '{owner.name}' (a "
                    "condition name names one condition of the project's template)",
                    (*path, "name"),
                    **entry.context(),
                )


def _check_rollout_publications(
    rollouts: Sequence[Entry], publications: Sequence[Entry], log: IssueLog
) -> None:
    """Warns when a Rollout serves a publication that apps cannot download (`published: false`)."""
    hidden = {e.name for e in publications if e.data["spec"].get("published") is False}
    for entry in rollouts:
        for path, kind in _references(entry):
            name = entry.value(path)
            if kind == "Publication" and name in hidden:
                log.warn(
                    entry.doc.value_location(path),
                    f"Publication '{name}' is not published (published: false): "
                    "apps told to load it cannot download it",
                    path,
                    **entry.context(),
                )
