"""load_specs: YAML files → overlay → schema → cross-document rules → typed SpecSet.

Every problem of a run is collected and raised together as one SpecError, sorted by
file and line. Problems caused only by a stack's overlay are marked with that stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from components.spec.build import build_spec_set
from components.spec.documents import SpecSet
from components.spec.entry import ENVELOPE, Entry, doc_context
from components.spec.errors import SpecError, SpecIssue
from components.spec.issue_log import IssueLog
from components.spec.merge_patch import apply_located_patch
from components.spec.paths import project_root
from components.spec.rules import check_unique_names, cross_document, listed, validate
from components.spec.schema import API_VERSION, KINDS, did_you_mean, show
from components.spec.spec_files import SpecReader, base_entries
from components.spec.stack import STACK_NAME
from components.spec.yaml_source import YamlDocument

OVERLAY_DIR = "envs"


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
        self.log = IssueLog()
        self.reader = SpecReader(self.root, self.log)
        self.overlay_display: str | None = None

    # -- pipeline ------------------------------------------------------------------
    def collect(self) -> SpecSet | None:
        if not self.directory.is_dir():
            self.log.errors.append(
                SpecIssue(str(self.directory), None, None, "spec directory not found")
            )
            return None
        entries = base_entries(self.directory, self.reader, self.log)
        check_unique_names(entries, self.log)
        if self.stack is not None:
            self._apply_overlay(entries)
        for entry in entries:
            validate(entry, self.root, self.log)
        if not self.reader.parse_failed:
            cross_document(entries, self.log)
        if self.log.errors:
            return None
        return self._build(entries)

    # -- overlays ------------------------------------------------------------------
    def _apply_overlay(self, entries: list[Entry]) -> None:
        stack = self.stack or ""
        path = overlay_path(self.directory, stack)
        if not STACK_NAME.match(stack):
            self.log.errors.append(
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
            self.log.warnings.append(
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
        for doc in self.reader.read(path).documents:
            self._apply_overlay_document(doc, targets)

    def _apply_overlay_document(
        self, doc: YamlDocument, targets: dict[tuple[str, str | None], Entry]
    ) -> None:
        data = doc.data
        context = doc_context(doc)
        if not isinstance(data, dict):
            self.log.error(
                doc.start,
                "an overlay document must be a mapping with apiVersion, kind, "
                f"metadata.name and spec; got {show(data)}",
            )
            return
        for key in data:
            if key not in ENVELOPE:
                self.log.error(
                    doc.key_location((key,)),
                    f"unknown field{did_you_mean(key, ENVELOPE)}; an overlay document has "
                    "apiVersion, kind, metadata.name and spec",
                    (key,),
                    **context,
                )
        if data.get("apiVersion") != API_VERSION:
            if "apiVersion" in data:
                self.log.error(
                    doc.value_location(("apiVersion",)),
                    f"{show(data['apiVersion'])} is not supported; the only accepted value "
                    f"is '{API_VERSION}'",
                    ("apiVersion",),
                    **context,
                )
            else:
                self.log.error(doc.start, "required field is missing", ("apiVersion",), **context)
        kind = data.get("kind")
        if kind not in KINDS:
            where = doc.value_location(("kind",)) if "kind" in data else doc.start
            text = (
                "required field is missing"
                if "kind" not in data
                else (f"{show(kind)} is not a kind")
            )
            self.log.error(
                where,
                f"{text}; kinds are {', '.join(KINDS)}{did_you_mean(kind, KINDS)}",
                ("kind",),
                **context,
            )
            return
        metadata = data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            where = doc.value_location(("metadata",)) if "metadata" in data else doc.start
            self.log.error(
                where,
                "the overlay must name the document it patches (metadata.name)",
                ("metadata", "name"),
                **context,
            )
            return
        for key in metadata:
            if key != "name":
                self.log.error(
                    doc.key_location(("metadata", key)),
                    f"unknown field{did_you_mean(key, ['name'])}; allowed here: name",
                    ("metadata", key),
                    **context,
                )
        name = metadata["name"]
        if "spec" not in data:
            self.log.error(
                doc.start,
                "required field is missing (the fields to change, as a JSON merge patch)",
                ("spec",),
                **context,
            )
            return
        if not isinstance(data["spec"], dict):
            self.log.error(
                doc.value_location(("spec",)),
                f"expected a mapping of the fields to change (JSON merge patch), got "
                f"{show(data['spec'])}",
                ("spec",),
                **context,
            )
            return
        target = targets.get((kind, name))
        if target is None:
            if not self.reader.parse_failed:
                names = sorted(n for k, n in targets if k == kind and n is not None)
                self.log.error(
                    doc.value_location(("metadata", "name")),
                    f"overlay matches no {kind} named {name!r} in {self.directory}"
                    f"{did_you_mean(name, names)}; {listed(kind, names)}",
                    ("metadata", "name"),
                    **context,
                )
            return
        if target.overlaid_at is not None:
            self.log.error(
                doc.value_location(("metadata", "name")),
                f"second overlay for this document (first at line {target.overlaid_at.line}); "
                "merge them into one",
                ("metadata", "name"),
                **context,
            )
            return
        target.overlaid_at = doc.value_location(("metadata", "name"))
        target.doc = apply_located_patch(target.doc, doc, ("spec",))

    def _build(self, entries: list[Entry]) -> SpecSet:
        return build_spec_set(
            entries, self.directory, self.stack, self.reader.files, self.log.warnings
        )


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
    issues = run.log.errors
    if stack is not None:
        base = _Run(Path(directory), None)
        base.collect()
        issues = _mark_stack(issues, set(base.log.errors), stack, run.overlay_display)
    raise SpecError(issues, run.log.warnings)
