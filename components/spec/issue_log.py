"""IssueLog: the errors and warnings that every step of one load_specs run adds to."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.spec.errors import Location, SpecIssue
from components.spec.schema import format_path
from components.spec.yaml_source import FieldPath


@dataclass
class IssueLog:
    """The SpecIssues of one run, errors apart from warnings, in the order found."""

    errors: list[SpecIssue] = field(default_factory=list)
    warnings: list[SpecIssue] = field(default_factory=list)

    def error(
        self, where: Location, message: str, path: FieldPath = (), **context: str | None
    ) -> None:
        """An error at `where` on field `path` of the document `context` (kind, name) names."""
        self.errors.append(SpecIssue.at(where, message, field=format_path(path) or None, **context))

    def warn(
        self, where: Location, message: str, path: FieldPath = (), **context: str | None
    ) -> None:
        """A warning at `where` on field `path` of the document `context` names."""
        self.warnings.append(
            SpecIssue.at(
                where, message, field=format_path(path) or None, severity="warning", **context
            )
        )
