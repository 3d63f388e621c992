"""The spec layer's one error type: every problem with a file, line, column and field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, order=True)
class Location:
    """A position in a file; line and column are 1-based, None when unknown."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in the specs, an overlay or a stack config file.

    `kind`/`name` identify the document (None for file-level problems), `field` is the
    dotted path inside it (`spec.budget.nodeHours`, `spec.export[1]`), `stack` is set
    when the problem only exists once that stack's overlay is applied and the location
    is outside the overlay file itself.
    """

    file: str
    line: int | None
    column: int | None
    message: str
    kind: str | None = None
    name: str | None = None
    field: str | None = None
    severity: str = "error"  # "error" | "warning"
    stack: str | None = None

    @classmethod
    def at(cls, location: Location, message: str, **context: Any) -> SpecIssue:
        """An issue at a Location."""
        return cls(location.file, location.line, location.column, message, **context)

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.column)

    def sort_key(self) -> tuple[Any, ...]:
        return (self.file, self.line or 0, self.column or 0, self.field or "", self.message)

    def render(self) -> str:
        """`file:line:col: [warning: ]Kind 'name' field: message[ (stack 'x')]`."""
        parts = [f"{self.location}:"]
        if self.severity != "error":
            parts.append(f"{self.severity}:")
        subject = ""
        if self.kind and self.name:
            subject = f"{self.kind} '{self.name}'"
        elif self.kind:
            subject = self.kind
        if self.field:
            subject = f"{subject} {self.field}" if subject else self.field
        parts.append(f"{subject}: {self.message}" if subject else self.message)
        text = " ".join(parts)
        if self.stack:
            text += f" (with stack '{self.stack}' overlay)"
        return text

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of `edgectl validate --format json`."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "stack": self.stack,
            "message": self.message,
            "text": self.render(),
        }

    def with_stack(self, stack: str | None) -> SpecIssue:
        return replace(self, stack=stack)


def sort_issues(issues: Iterable[SpecIssue]) -> tuple[SpecIssue, ...]:
    """Unique issues sorted by file, line, column."""
    return tuple(sorted(set(issues), key=SpecIssue.sort_key))


class SpecError(Exception):
    """Invalid specs, overlays or stack config: carries every problem found in one run."""

    def __init__(self, issues: Iterable[SpecIssue], warnings: Iterable[SpecIssue] = ()) -> None:
        self.issues = sort_issues(issues)
        self.warnings = sort_issues(warnings)
        super().__init__(self.render())

    def render(self) -> str:
        """Every error, one per line, sorted by file and line."""
        return "\n".join(issue.render() for issue in self.issues)
