"""YAML files → plain data plus the file:line:column of every key and value.

PyYAML's composer gives nodes with marks; we build the data ourselves so that every
path (`("spec", "export", 1)`) keeps its position, duplicate keys are caught (PyYAML
silently keeps the last one) and one bad scalar does not hide the rest of the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.spec.errors import Location, SpecIssue

FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass
class YamlDocument:
    """One document of a YAML file: its data and where each part of it was written."""

    file: str
    index: int
    data: Any
    start: Location
    values: dict[FieldPath, Location] = field(default_factory=dict)
    keys: dict[FieldPath, Location] = field(default_factory=dict)
    problems: list[tuple[FieldPath, Location, str]] = field(default_factory=list)
    deleted: dict[FieldPath, Location] = field(default_factory=dict)  # by overlay `null`s

    def value_location(self, path: FieldPath) -> Location:
        """Where the value at `path` (or its nearest written ancestor) starts."""
        for cut in range(len(path), -1, -1):
            found = self.values.get(path[:cut])
            if found is not None:
                return found
        return self.start

    def key_location(self, path: FieldPath) -> Location:
        """Where the key of `path` is written (the document start for the root)."""
        return self.keys.get(path) or self.value_location(path)


@dataclass
class YamlFile:
    """A parsed file: its documents and, if parsing stopped early, why."""

    path: Path
    display: str
    documents: list[YamlDocument]
    error: SpecIssue | None = None


def _location(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _syntax_issue(file: str, exc: yaml.YAMLError) -> SpecIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    message = f"invalid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        message += f" ({context} at line {context_mark.line + 1})"
    if mark is None:
        return SpecIssue(file, None, None, message)
    return SpecIssue.at(_location(file, mark), message)


class _Builder:
    """Turns one composed node tree into data + locations."""

    def __init__(self, loader: yaml.SafeLoader, doc: YamlDocument) -> None:
        self.loader = loader
        self.doc = doc
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        here = _location(self.doc.file, node.start_mark)
        self.doc.values[path] = here
        if id(node) in self.active:
            self.doc.problems.append((path, here, "recursive YAML alias"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path, here)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_at = _location(self.doc.file, key_node.start_mark)
            if key_node.tag == _MERGE_TAG:
                self.doc.problems.append(
                    (
                        path,
                        key_at,
                        "YAML merge keys ('<<') are not supported; write the "
                        "fields out, or put per-stack differences in an envs/<stack>.yaml overlay",
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.doc.problems.append(
                    (path, key_at, "a key must be a plain word, not a list or mapping")
                )
                continue
            key = str(key_node.value)
            if key in first_seen:
                first = first_seen[key]
                self.doc.problems.append(
                    (
                        (*path, key),
                        key_at,
                        f"duplicate key (first at line {first.line}:{first.column}); "
                        "YAML would keep only one of them, remove the other",
                    )
                )
                continue
            first_seen[key] = key_at
            self.doc.keys[(*path, key)] = key_at
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath, here: Location) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # no spec field is a date: keep what was written
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.doc.problems.append((path, here, f"invalid YAML value: {problem}"))
            return None
        if isinstance(value, float) and math.isnan(value):
            return node.value  # NaN passes every range check: keep it as the text written
        return value


def _is_empty(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG)


def parse_yaml(text: str, display: str, path: Path | None = None) -> YamlFile:
    """Every document of a YAML text; a syntax error ends parsing with an issue."""
    result = YamlFile(path or Path(display), display, [])
    loader = yaml.SafeLoader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if not _is_empty(node):
                start = _location(display, node.start_mark)
                doc = YamlDocument(display, index, None, start)
                doc.data = _Builder(loader, doc).build(node, ())
                result.documents.append(doc)
            index += 1
    except yaml.YAMLError as exc:
        result.error = _syntax_issue(display, exc)
    finally:
        loader.dispose()
    return result


def read_yaml_file(path: Path, display: str | None = None) -> YamlFile:
    """Parse a file from disk; unreadable files come back with an issue."""
    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        issue = SpecIssue(display, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return YamlFile(path, display, [], issue)
    except OSError as exc:
        return YamlFile(path, display, [], SpecIssue(display, None, None, f"cannot read: {exc}"))
    return parse_yaml(text, display, path)
