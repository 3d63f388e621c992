"""load_specs: YAML files → overlay → schema → cross-document rules → typed SpecSet.

Every problem of a run is collected and raised together as one SpecError, sorted by
file and line. Problems caused only by a stack's overlay are marked with that stack.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.spec.build import build_spec_set
from components.spec.documents import SpecSet, Target
from components.spec.entry import ENVELOPE, Entry, doc_context, field_value
from components.spec.errors import Location, SpecError, SpecIssue
from components.spec.merge_patch import apply_located_patch
from components.spec.naming import BUCKET_NAME_PATTERN, bucket_name_problem
from components.spec.paths import ROOT_RULE, outside_root, project_root
from components.spec.schema import (
    API_VERSION,
    KINDS,
    apply_defaults,
    did_you_mean,
    format_path,
    show,
    validate_document,
)
from components.spec.stack import STACK_NAME
from components.spec.yaml_source import FieldPath, YamlDocument, YamlFile, read_yaml_file

OVERLAY_DIR = "envs"
SPEC_SUFFIX = ".yaml"
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


def _listed(kind: str, names: list[str]) -> str:
    """`Bucket documents: a, b` (the names a reference may use), or that there are none."""
    return f"{kind} documents: {', '.join(names)}" if names else f"there are no {kind} documents"


def overlay_path(directory: Path, stack: str) -> Path:
    """specs/envs/<stack>.yaml."""
    return Path(directory) / OVERLAY_DIR / f"{stack}.yaml"


def overlay_stacks(directory: Path) -> tuple[str, ...]:
    """Stacks that have an overlay file in <directory>/envs/, sorted."""
    envs = Path(directory) / OVERLAY_DIR
    if not envs.is_dir():
        return ()
    return tuple(sorted(p.stem for p in envs.glob("*.yaml") if p.is_file()))


class _Run:
    """One validation run over a directory (and optionally one stack's overlay)."""

    def __init__(self, directory: Path, stack: str | None) -> None:
        self.directory = Path(directory)
        self.root = project_root(self.directory)
        self.stack = stack
        self.issues: list[SpecIssue] = []
        self.warnings: list[SpecIssue] = []
        self.parse_failed = False
        self.files: list[Path] = []
        self.overlay_display: str | None = None

    # -- helpers -------------------------------------------------------------------
    def error(self, where: Location, message: str, path: FieldPath = (), **context: Any) -> None:
        field_name = format_path(path) or None
        self.issues.append(SpecIssue.at(where, message, field=field_name, **context))

    def warn(self, where: Location, message: str, path: FieldPath = (), **context: Any) -> None:
        field_name = format_path(path) or None
        self.warnings.append(
            SpecIssue.at(where, message, field=field_name, severity="warning", **context)
        )

    def _outside(
        self, where: Location, written: str, path: Path, field: FieldPath = (), **context: Any
    ) -> bool:
        """Report (and say True) when `path` resolves outside the project root."""
        try:
            escaped = outside_root(path, self.root)
        except (OSError, RuntimeError) as exc:  # a symlink loop
            self.error(where, f"{written!r} cannot be resolved: {exc}", field, **context)
            return True
        if escaped is not None:
            self.error(
                where,
                f"{written!r} resolves to {escaped}, outside the project root {self.root}; "
                f"paths in specs must stay inside {self.root} ({ROOT_RULE})",
                field,
                **context,
            )
        return escaped is not None

    def _read(self, path: Path) -> YamlFile:
        self.files.append(path)
        if self._outside(Location(str(path), 1, 1), path.name, path):
            self.parse_failed = True
            return YamlFile(path, str(path), [])
        parsed = read_yaml_file(path, str(path))
        if parsed.error is not None:
            self.issues.append(parsed.error)
            self.parse_failed = True
        for doc in parsed.documents:
            for path_, where, message in doc.problems:
                self.error(where, message, path_, **doc_context(doc))
        return parsed

    # -- pipeline ------------------------------------------------------------------
    def collect(self) -> SpecSet | None:
        if not self.directory.is_dir():
            self.issues.append(
                SpecIssue(str(self.directory), None, None, "spec directory not found")
            )
            return None
        entries = self._base_entries()
        self._check_unique_names(entries)
        if self.stack is not None:
            self._apply_overlay(entries)
        for entry in entries:
            self._validate(entry)
        if not self.parse_failed:
            self._cross_document(entries)
        if self.issues:
            return None
        return self._build(entries)

    def _base_entries(self) -> list[Entry]:
        files = sorted(p for p in self.directory.iterdir() if p.is_file())
        paths = [p for p in files if p.suffix == SPEC_SUFFIX]
        for ignored in (p for p in files if p.suffix == ".yml"):
            self.warnings.append(
                SpecIssue(
                    str(ignored),
                    None,
                    None,
                    "ignored: spec files end in .yaml (rename it to load it)",
                    severity="warning",
                )
            )
        if not paths:
            self.warnings.append(
                SpecIssue(
                    str(self.directory),
                    None,
                    None,
                    "no *.yaml spec files here (envs/ holds overlays, not specs)",
                    severity="warning",
                )
            )
        entries = []
        for path in paths:
            for doc in self._read(path).documents:
                entry = self._envelope(doc)
                if entry is not None:
                    entries.append(entry)
        return entries

    def _envelope(self, doc: YamlDocument) -> Entry | None:
        """The document's kind and name, or None (with an issue) when unusable."""
        data = doc.data
        if not isinstance(data, dict):
            self.error(
                doc.start,
                f"a document must be a mapping with {', '.join(ENVELOPE)}; got {show(data)}",
            )
            return None
        context = doc_context(doc)
        if "kind" not in data:
            self.error(
                doc.start,
                f"required field is missing (one of {', '.join(KINDS)})",
                ("kind",),
                name=context["name"],
            )
            return None
        kind = data["kind"]
        if kind not in KINDS:
            self.error(
                doc.value_location(("kind",)),
                f"{show(kind)} is not a kind; kinds are {', '.join(KINDS)}"
                f"{did_you_mean(kind, KINDS)}",
                ("kind",),
                name=context["name"],
            )
            return None
        return Entry(kind, context["name"], doc)

    def _check_unique_names(self, entries: list[Entry]) -> None:
        first: dict[tuple[str, str], Entry] = {}
        for entry in entries:
            if entry.name is None:
                continue
            key = (entry.kind, entry.name)
            if key in first:
                where = first[key].doc.value_location(("metadata", "name"))
                self.error(
                    entry.doc.value_location(("metadata", "name")),
                    f"duplicate {entry.kind} name; first defined at {where}",
                    ("metadata", "name"),
                    **entry.context(),
                )
                entry.valid = False  # overlays and references use the first one
            else:
                first[key] = entry

    # -- overlays ------------------------------------------------------------------
    def _apply_overlay(self, entries: list[Entry]) -> None:
        stack = self.stack or ""
        path = overlay_path(self.directory, stack)
        if not STACK_NAME.match(stack):
            self.issues.append(
                SpecIssue(
                    str(path),
                    None,
                    None,
                    f"{stack!r} is not a stack name (letters, digits, '_', '.', '-')",
                )
            )
            return
        if not path.is_file():
            known = ", ".join(overlay_stacks(self.directory)) or "none"
            self.warnings.append(
                SpecIssue(
                    str(path),
                    None,
                    None,
                    f"no overlay for stack '{stack}': the base specs apply unchanged "
                    f"(overlays exist for: {known})",
                    severity="warning",
                )
            )
            return
        self.overlay_display = str(path)
        targets = {(e.kind, e.name): e for e in entries if e.valid and e.name is not None}
        for doc in self._read(path).documents:
            self._apply_overlay_document(doc, targets)

    def _apply_overlay_document(
        self, doc: YamlDocument, targets: dict[tuple[str, str | None], Entry]
    ) -> None:
        data = doc.data
        context = doc_context(doc)
        if not isinstance(data, dict):
            self.error(
                doc.start,
                "an overlay document must be a mapping with apiVersion, kind, "
                f"metadata.name and spec; got {show(data)}",
            )
            return
        for key in data:
            if key not in ENVELOPE:
                self.error(
                    doc.key_location((key,)),
                    f"unknown field{did_you_mean(key, ENVELOPE)}; an overlay document has "
                    "apiVersion, kind, metadata.name and spec",
                    (key,),
                    **context,
                )
        if data.get("apiVersion") != API_VERSION:
            if "apiVersion" in data:
                self.error(
                    doc.value_location(("apiVersion",)),
                    f"{show(data['apiVersion'])} is not supported; the only accepted value "
                    f"is '{API_VERSION}'",
                    ("apiVersion",),
                    **context,
                )
            else:
                self.error(doc.start, "required field is missing", ("apiVersion",), **context)
        kind = data.get("kind")
        if kind not in KINDS:
            where = doc.value_location(("kind",)) if "kind" in data else doc.start
            text = (
                "required field is missing"
                if "kind" not in data
                else (f"{show(kind)} is not a kind")
            )
            self.error(
                where,
                f"{text}; kinds are {', '.join(KINDS)}{did_you_mean(kind, KINDS)}",
                ("kind",),
                **context,
            )
            return
        metadata = data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            where = doc.value_location(("metadata",)) if "metadata" in data else doc.start
            self.error(
                where,
                "the overlay must name the document it patches (metadata.name)",
                ("metadata", "name"),
                **context,
            )
            return
        for key in metadata:
            if key != "name":
                self.error(
                    doc.key_location(("metadata", key)),
                    f"unknown field{did_you_mean(key, ['name'])}; allowed here: name",
                    ("metadata", key),
                    **context,
                )
        name = metadata["name"]
        if "spec" not in data:
            self.error(
                doc.start,
                "required field is missing (the fields to change, as a JSON merge patch)",
                ("spec",),
                **context,
            )
            return
        if not isinstance(data["spec"], dict):
            self.error(
                doc.value_location(("spec",)),
                f"expected a mapping of the fields to change (JSON merge patch), got "
                f"{show(data['spec'])}",
                ("spec",),
                **context,
            )
            return
        target = targets.get((kind, name))
        if target is None:
            if not self.parse_failed:
                names = sorted(n for k, n in targets if k == kind and n is not None)
                self.error(
                    doc.value_location(("metadata", "name")),
                    f"overlay matches no {kind} named {name!r} in {self.directory}"
                    f"{did_you_mean(name, names)}; {_listed(kind, names)}",
                    ("metadata", "name"),
                    **context,
                )
            return
        if target.overlaid_at is not None:
            self.error(
                doc.value_location(("metadata", "name")),
                f"second overlay for this document (first at line {target.overlaid_at.line}); "
                "merge them into one",
                ("metadata", "name"),
                **context,
            )
            return
        target.overlaid_at = doc.value_location(("metadata", "name"))
        target.doc = apply_located_patch(target.doc, doc, ("spec",))

    # -- per-document validation ---------------------------------------------------
    def _validate(self, entry: Entry) -> None:
        """Schema, then the rules a schema cannot say. The latter also run on documents
        with schema errors (each guards its own types), so one run reports both."""
        problems = validate_document(entry.kind, entry.doc)
        unreadable = {(path, where) for path, where, _ in entry.doc.problems}
        for path, where, message in problems:
            if (path, where) not in unreadable:  # a bad YAML value is already reported
                self.error(where, message, path, **entry.context())
        if problems or entry.doc.problems:
            entry.valid = False
        entry.data = apply_defaults(entry.kind, entry.doc.data)
        before = len(self.issues)
        check = getattr(self, f"_check_{entry.kind.lower()}")
        check(entry)
        if len(self.issues) > before:
            entry.valid = False

    def _local_path(self, entry: Entry, path: FieldPath, want: str) -> None:
        value = field_value(entry.data, path)
        if not isinstance(value, str) or not value:
            return
        where = entry.doc.value_location(path)
        written = Path(where.file).parent / value
        shown = os.path.normpath(written)
        if self._outside(where, value, written, path, **entry.context()):
            return  # checked first, so that no message tells what exists outside the root
        if Path(value).is_absolute():
            self.warn(
                where,
                "an absolute path ties the specs to one machine; use a path relative to "
                "this file's directory",
                path,
                **entry.context(),
            )
        if not written.exists():
            self.error(
                where,
                f"{shown} does not exist (paths are relative to the directory of {where.file})",
                path,
                **entry.context(),
            )
        elif want == "file" and not written.is_file():
            self.error(where, f"{shown} is a directory; expected a file", path, **entry.context())
        elif want == "directory" and not written.is_dir():
            self.error(where, f"{shown} is a file; expected a directory", path, **entry.context())

    def _check_bucket(self, entry: Entry) -> None:
        explicit = field_value(entry.data, ("spec", "bucketName"))
        if not isinstance(explicit, str) or not BUCKET_NAME_PATTERN.match(explicit):
            return  # the schema reports the pattern
        if problem := bucket_name_problem(explicit):
            where = entry.doc.value_location(("spec", "bucketName"))
            self.error(where, f"{explicit!r} {problem}", ("spec", "bucketName"), **entry.context())

    def _check_dataset(self, entry: Entry) -> None:
        split = field_value(entry.data, ("spec", "split"))
        parts = [field_value(split, (key,)) for key in ("train", "validation", "test")]
        if all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
            train, validation, test = parts
            total = train + validation + test
            if abs(total - 1) > SPLIT_TOLERANCE:
                self.error(
                    entry.doc.key_location(("spec", "split")),
                    f"train {train:g} + validation {validation:g} + test {test:g} = "
                    f"{round(total, 9):g}; the fractions must sum to 1 "
                    "(defaults: 0.8, 0.1, 0.1)",
                    ("spec", "split"),
                    **entry.context(),
                )
        for key, want in (
            ("zip", "file"),
            ("directory", "directory"),
            ("images", "any"),
            ("labels", "file"),
        ):
            self._local_path(entry, ("spec", "source", key), want)

    def _check_model(self, entry: Entry) -> None:
        self._local_path(entry, ("spec", "baseModel", "path"), "any")

    def _check_publication(self, entry: Entry) -> None:
        name = field_value(entry.data, ("spec", "displayName"))
        if (
            field_value(entry.data, ("spec", "target")) == Target.FIREBASE_ML
            and isinstance(name, str)
            and _FIREBASE_SDK_DISPLAY_NAME.match(name)
            and not _FIREBASE_REST_DISPLAY_NAME.match(name)
        ):
            self.warn(
                entry.doc.value_location(("spec", "displayName")),
                f"{name!r} passes the firebase-admin SDK's check, but the Firebase ML REST "
                "reference allows only letters, digits and '_', starting with a letter",
                ("spec", "displayName"),
                **entry.context(),
            )

    # -- cross-document rules ------------------------------------------------------
    def _cross_document(self, entries: list[Entry]) -> None:
        names: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for entry in entries:
            if entry.name is not None and entry.name not in names[entry.kind]:
                names[entry.kind].append(entry.name)
        valid = [e for e in entries if e.valid]
        for entry in valid:
            for path, kind in _REFERENCES.get(entry.kind, ()):
                value = field_value(entry.data, path)
                if value is None or value in names[kind]:
                    continue
                known = sorted(names[kind])
                self.error(
                    entry.doc.value_location(path),
                    f"no {kind} named {value!r}{did_you_mean(value, known)}; "
                    f"{_listed(kind, known)}",
                    path,
                    **entry.context(),
                )
        self._check_cycles([e for e in valid if e.kind == "Model"])
        self._check_promoted_bases([e for e in valid if e.kind == "Model"])
        self._check_unique_values(
            [e for e in valid if e.kind == "Publication"],
            ("spec", "displayName"),
            lambda e: (e.data["spec"]["target"], e.data["spec"]["displayName"]),
            "apps load models by this name",
        )
        self._check_unique_values(
            [e for e in valid if e.kind == "Bucket" and "bucketName" in e.data["spec"]],
            ("spec", "bucketName"),
            lambda e: e.data["spec"]["bucketName"],
            "bucket names are global",
        )

    def _check_cycles(self, models: list[Entry]) -> None:
        by_name = {e.name: e for e in models}
        base = {
            e.name: field_value(e.data, ("spec", "baseModel", "model"))
            for e in models
            if field_value(e.data, ("spec", "baseModel", "model")) in by_name
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
            path = ("spec", "baseModel", "model")
            self.error(
                entry.doc.value_location(path),
                f"baseModel cycle {' → '.join([*rotated, first])}; a model cannot start "
                "from its own weights",
                path,
                **entry.context(),
            )

    def _check_promoted_bases(self, models: list[Entry]) -> None:
        """A promoted model (copied from another stack) has no cloud model on this stack for
        another model to start from."""
        promoted = {e.name for e in models if field_value(e.data, ("spec", "promoted")) is not None}
        path = ("spec", "baseModel", "model")
        for entry in models:
            base = field_value(entry.data, path)
            if base in promoted:
                self.error(
                    entry.doc.value_location(path),
                    f"'{base}' is promoted from another stack on this stack and has no cloud "
                    "model here to start from; train it here or use baseModel.path",
                    path,
                    **entry.context(),
                )

    def _check_unique_values(
        self, entries: list[Entry], path: FieldPath, key: Any, why: str
    ) -> None:
        seen: dict[Any, Entry] = {}
        for entry in sorted(entries, key=lambda e: e.doc.value_location(path)):
            value = key(entry)
            if value in seen:
                self.error(
                    entry.doc.value_location(path),
                    f"{show(field_value(entry.data, path))} is already used by {entry.kind} "
                    f"'{seen[value].name}' ({why})",
                    path,
                    **entry.context(),
                )
            else:
                seen[value] = entry

    def _build(self, entries: list[Entry]) -> SpecSet:
        return build_spec_set(entries, self.directory, self.stack, self.files, self.warnings)


def _mark_stack(
    issues: Iterable[SpecIssue], base: set[SpecIssue], stack: str, overlay: str | None
) -> list[SpecIssue]:
    return [
        issue if issue in base or issue.file == overlay else issue.with_stack(stack)
        for issue in issues
    ]


def load_specs(directory: Path, stack: str | None = None) -> SpecSet:
    """Load, overlay (specs/envs/<stack>.yaml), validate and type every spec in `directory`.

    Raises SpecError with every problem found. Warnings are on the result
    (`SpecSet.warnings`) or, when there are errors too, on the SpecError.
    """
    run = _Run(Path(directory), stack)
    specs = run.collect()
    if specs is not None:
        return specs
    issues = run.issues
    if stack is not None:
        base = _Run(Path(directory), None)
        base.collect()
        issues = _mark_stack(issues, set(base.issues), stack, run.overlay_display)
    raise SpecError(issues, run.warnings)
