"""load_specs: YAML files → overlay → schema and rules → typed SpecSet.

Every problem of a run is collected and raised together as one SpecError, sorted by
file and line. Problems caused only by a stack's overlay are marked with that stack.
The steps live in spec_files.py, overlay.py, rules.py and build.py; this module only
orders them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from components.spec.build import build_spec_set
from components.spec.documents import SpecSet
from components.spec.errors import Location, SpecError, SpecIssue
from components.spec.issue_log import IssueLog
from components.spec.overlay import apply_overlay
from components.spec.paths import project_root
from components.spec.rules import check_unique_names, cross_document, validate
from components.spec.spec_files import SpecReader, base_entries


@dataclass(frozen=True)
class _Outcome:
    """One run's result: the specs (None on any error), its issues, the overlay it read."""

    specs: SpecSet | None
    log: IssueLog
    overlay: str | None = None


def _run(directory: Path, stack: str | None) -> _Outcome:
    """One pass over `directory`, with `stack`'s overlay applied when given."""
    log = IssueLog()
    if not directory.is_dir():
        log.error(Location(str(directory)), "spec directory not found")
        return _Outcome(None, log)
    reader = SpecReader(project_root(directory), log)
    entries = base_entries(directory, reader, log)
    check_unique_names(entries, log)
    overlay = None if stack is None else apply_overlay(directory, stack, entries, reader, log)
    for entry in entries:
        validate(entry, reader.root, log)
    if not reader.parse_failed:  # documents lost to a syntax error would look missing
        cross_document(entries, log)
    if log.errors:
        return _Outcome(None, log, overlay)
    specs = build_spec_set(entries, directory, stack, reader.files, log.warnings)
    return _Outcome(specs, log, overlay)


def _mark_stack(
    issues: Iterable[SpecIssue], base: set[SpecIssue], stack: str, overlay: str | None
) -> list[SpecIssue]:
    """Issues that only the overlay causes, outside the overlay file, name the stack."""
    return [
        issue if issue in base or issue.file == overlay else issue.with_stack(stack)
        for issue in issues
    ]


def load_specs(directory: Path, stack: str | None = None) -> SpecSet:
    """Load, overlay (specs/envs/<stack>.yaml), validate and type every spec in `directory`.

    Raises SpecError with every problem found. Warnings are on the result
    (`SpecSet.warnings`) or, when there are errors too, on the SpecError.
    """
    run = _run(Path(directory), stack)
    if run.specs is not None:
        return run.specs
    issues = run.log.errors
    if stack is not None:
        base = _run(Path(directory), None)
        issues = _mark_stack(issues, set(base.log.errors), stack, run.overlay)
    raise SpecError(issues, run.log.warnings)
