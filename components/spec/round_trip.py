"""Editing spec and overlay files in place: ruamel.yaml's round-trip mode, which keeps
comments, key order, flow style and quoting, so an edit's pull request shows that edit only.

`edgectl promote` writes its pin with it and `edgectl studio` the threshold a user chose.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML


def round_trip_yaml() -> YAML:
    """A round-trip loader/dumper in the specs' style."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    # The specs' style: 2-space mappings, block sequences indented under their key.
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap long lines or comments
    yaml.explicit_start = False
    return yaml


def document_of(documents: list[Any], kind: str, name: str) -> Any:
    """The document of `kind` named `name` (metadata.name), or None."""
    for doc in documents:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == kind
            and isinstance(doc.get("metadata"), dict)
            and doc["metadata"].get("name") == name
        ):
            return doc
    return None
