"""Entry: one base spec document on its way from its file to a typed document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.spec.errors import Location
from components.spec.schema import KINDS
from components.spec.yaml_source import FieldPath, YamlDocument

# The top-level fields of every spec and overlay document.
ENVELOPE = ("apiVersion", "kind", "metadata", "spec")


def field_value(data: Any, path: FieldPath) -> Any:
    """The value at `path` in nested mappings (and lists, by index), or None where the path
    leads nowhere."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
        elif not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def doc_context(doc: YamlDocument) -> dict[str, str | None]:
    """The kind (a known one) and name of any document, to label its issues with."""
    data = doc.data if isinstance(doc.data, dict) else {}
    kind = data.get("kind")
    name = field_value(data, ("metadata", "name"))
    return {
        "kind": kind if kind in KINDS else None,
        "name": name if isinstance(name, str) else None,
    }


@dataclass
class Entry:
    """A base document on its way through load_specs.

    `doc` is its YAML (overlaid once a stack applies); `data`, once validated, has the
    schema defaults filled in.
    """

    kind: str
    name: str | None
    doc: YamlDocument
    valid: bool = True
    data: dict[str, Any] = field(default_factory=dict)  # with defaults, once valid
    overlaid_at: Location | None = None

    def context(self) -> dict[str, str | None]:
        """The kind and name that label this document's issues."""
        return {"kind": self.kind, "name": self.name}

    def value(self, path: FieldPath) -> Any:
        """The value at `path` in `data` (defaults included), or None."""
        return field_value(self.data, path)
