"""YAML files → plain data plus the file:line:column of every key and value.

PyYAML's composer gives nodes with marks; we build the data ourselves so that every
path (`("spec", "export", 1)`) keeps its position, duplicate keys are caught (PyYAML
silently keeps the last one) and one bad scalar does not hide the rest of the file.

Specs come from pull requests, so reading one is bounded: the file's size, its number of
nodes, what its aliases expand to (a "billion laughs" file is a few hundred bytes) and
its nesting are checked while PyYAML composes, before any data is built. Every failure,
the parser's or a bound's, is a `file:line:column` issue, never an exception.
"""

from __future__ import annotations

import math
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml._yaml import CParser  # libyaml's parser (the wheel's C extension)

from components.spec.errors import Location, SpecIssue

# PyYAML's pure-Python scanner takes about 0.5–1 s per MiB (per ~20,000 nodes) on this
# project's machines, so these bounds keep any file within ~2 s and a few MB of memory.
# The example spec is 3.5 KB and ~200 nodes, the deepest field is 6 levels down.
MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_ALIAS_NODES = 5_000  # nodes that aliases add when expanded, summed over a file
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 64  # longer digit strings overflow floats and Python's int parsing

FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NULL_TAG = "tag:yaml.org,2002:null"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
# What YAML lets a file hold (PyYAML's Reader refuses the rest with a traceback-only error);
# text values are held to it too, since escapes ("\0") can write any character.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # as PyYAML counts lines


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


def _text_location(file: str, text: str, offset: int) -> Location:
    """The line and column of a character offset, counting line breaks as PyYAML does."""
    line, line_start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, offset):
        line, line_start = line + 1, brk.end()
    return Location(file, line, offset - line_start + 1)


def _character(char: str) -> str:
    """`control character U+0000`, or `character U+FFFE` for other unprintable ones."""
    code = ord(char)
    kind = "control character" if code < 0x20 or 0x7F <= code <= 0x9F else "character"
    return f"{kind} U+{code:04X}"


class _Bound(yaml.MarkedYAMLError):
    """A bound of this module was exceeded; its problem is the whole message."""

    def __init__(self, problem: str, mark: Any) -> None:
        # `mark`: a Mark of PyYAML's Python parser or of its C one (typed apart by the stubs)
        super().__init__(None, None, problem, mark)


class _Bounds(yaml.composer.Composer):
    """PyYAML's composer, counting nodes, alias expansions and depth while it composes.

    Aliases make the composed graph share nodes; each node's expanded size and height
    (aliases replaced by what they name) is measured once, so an alias costs a lookup.
    """

    def __init__(self) -> None:
        # Called by the loaders below after PyYAML's own __init__s (which set up the composer).
        self.nodes = 0
        self.alias_nodes = 0
        self.depth = 0
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) → (expanded size, height)

    # A parser's (Python or C), mixed in by the loaders below.
    peek_event: Callable[[], yaml.Event]

    def compose_document(self) -> yaml.Node | None:
        self.measured = {}  # anchors, and so the nodes aliases can name, are per document
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self._compose(parent, index)
            size, height = self.measured.get(id(node), (1, 1))  # (1, 1): a recursive alias
            self.alias_nodes += size
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise _Bound(
                    f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes in this file; "
                    "an alias may repeat a small shared block, not multiply data",
                    event.start_mark,
                )
            self._check_depth(self.depth + height, event.start_mark)
            return node
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Bound(
                f"more than {MAX_NODES:,} YAML nodes in one file; split the specs into "
                "several files",
                event.start_mark,
            )
        self.depth += 1
        self._check_depth(self.depth, event.start_mark)
        try:
            node = self._compose(parent, index)
        finally:
            self.depth -= 1
        self.measured[id(node)] = self._measure(node)
        return node

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        node = super().compose_node(parent, index)
        assert node is not None  # PyYAML composes a node for every node event
        return node

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            return (1, 1)
        sizes = [self.measured.get(id(child), (1, 1)) for child in children]
        return (1 + sum(size for size, _ in sizes), 1 + max((h for _, h in sizes), default=0))

    def _check_depth(self, depth: int, mark: Any) -> None:
        if depth > MAX_DEPTH:
            raise _Bound(
                f"YAML nested deeper than {MAX_DEPTH} levels (aliases included); spec "
                "documents nest a few levels, spec.acceptance.perLabel.<label> is the deepest",
                mark,
            )


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """PyYAML's safe loader, all in Python, with the bounds: its syntax errors say what was
    expected and what was found (libyaml's say less), so every text that fails is read by it."""

    def __init__(self, text: str) -> None:
        yaml.SafeLoader.__init__(self, text)
        _Bounds.__init__(self)


class _FastLoader(_Bounds, CParser, yaml.SafeLoader):
    """The same, its events from libyaml (C): the example's five spec files parse in 1.8 ms
    instead of 8 ms. The composer, the bounds, the resolver and the constructor are the Python
    ones; a text with a tab, or one that fails, is read by `_BoundedLoader` instead."""

    # The Python composer's (CParser has C ones, which would compose without the bounds).
    check_node = yaml.composer.Composer.check_node
    get_node = yaml.composer.Composer.get_node
    get_single_node = yaml.composer.Composer.get_single_node

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        yaml.SafeLoader.__init__(self, "")  # the Python reader and scanner stay unused
        _Bounds.__init__(self)


def _syntax_issue(file: str, exc: yaml.YAMLError) -> SpecIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    message = problem if isinstance(exc, _Bound) else f"invalid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        message += f" ({context} at line {context_mark.line + 1})"
    if mark is None:
        return SpecIssue(file, 1, 1, message)
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
            assert isinstance(node, yaml.ScalarNode)  # the composer makes no other kind
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
            if bad := _NOT_PRINTABLE.search(key):
                problem = f"{_character(bad.group())} is not allowed in a key"
                self.doc.problems.append((path, key_at, problem))
                continue
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
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            problem = (
                f"a number of {len(node.value)} characters is too long (at most "
                f"{MAX_NUMBER_CHARS}); quote it if it is text"
            )
            self.doc.problems.append((path, here, problem))
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.doc.problems.append((path, here, f"invalid YAML value: {problem}"))
            return None
        except (ValueError, KeyError, TypeError, OverflowError):  # `!!int abc`, `!!bool maybe`
            tag = node.tag.rsplit(":", 1)[-1]
            problem = f"invalid YAML value: {node.value!r} is not a valid !!{tag}"
            self.doc.problems.append((path, here, problem))
            return None
        if isinstance(value, str) and (bad := _NOT_PRINTABLE.search(value)):
            problem = f"{_character(bad.group())} is not allowed in text"
            self.doc.problems.append((path, here, problem))
            return None
        if isinstance(value, float) and math.isnan(value):
            return node.value  # NaN passes every range check: keep it as the text written
        return value


def _is_empty(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG)


def parse_yaml(text: str, display: str, path: Path | None = None) -> YamlFile:
    """Every document of a YAML text; a syntax error or a bound ends parsing with an issue."""
    result = YamlFile(path or Path(display), display, [])
    if bad := _NOT_PRINTABLE.search(text):
        where = _text_location(display, text, bad.start())
        message = f"{_character(bad.group())} is not allowed in YAML (is this a binary file?)"
        result.error = SpecIssue.at(where, message)
        return result
    if "\t" not in text:  # libyaml takes tabs as spaces where the Python parser refuses them
        fast = _parse_with(_FastLoader, text, result.path, display)
        if fast.error is None:
            return fast
    # A syntax error or a bound: read again by the Python parser, whose messages are the ones
    # this tool reports (and whose documents before the error are the ones kept).
    return _parse_with(_BoundedLoader, text, result.path, display)


def _parse_with(kind: Callable[[str], Any], text: str, path: Path, display: str) -> YamlFile:
    """`parse_yaml`'s documents, or its issue, as one loader reads them."""
    result = YamlFile(path, display, [])
    loader: Any = kind(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _is_empty(node):
                start = _location(display, node.start_mark)
                doc = YamlDocument(display, index, None, start)
                doc.data = _Builder(loader, doc).build(node, ())
                result.documents.append(doc)
            index += 1
    except yaml.YAMLError as exc:
        result.error = _syntax_issue(display, exc)
    except RecursionError:  # the bounds above should make this unreachable: report, not crash
        where = _location(display, loader.get_mark())
        result.error = SpecIssue.at(where, f"YAML nested too deeply (at most {MAX_DEPTH} levels)")
    finally:
        loader.dispose()
    return result


def _too_big(path: Path, display: str, size: str) -> YamlFile:
    message = (
        f"the file is {size} bytes; a spec, overlay or stack file may be at most "
        f"{MAX_FILE_BYTES:,} bytes (1 MiB): split the specs into several files"
    )
    return YamlFile(path, display, [], SpecIssue(display, 1, 1, message))


def read_yaml_file(path: Path, display: str | None = None) -> YamlFile:
    """Parse a file from disk, refusing it unread when too big; problems come as an issue."""
    display = display or str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            issue = SpecIssue(display, 1, 1, "not a regular file: specs are YAML files")
            return YamlFile(path, display, [], issue)
        if info.st_size > MAX_FILE_BYTES:
            return _too_big(path, display, f"{info.st_size:,}")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        return YamlFile(path, display, [], SpecIssue(display, 1, 1, f"cannot read: {exc}"))
    if len(data) > MAX_FILE_BYTES:
        return _too_big(path, display, f"more than {MAX_FILE_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8")
        where = _text_location(display, prefix, len(prefix))
        message = f"not UTF-8 text ({exc.reason}: byte 0x{data[exc.start]:02X}); save it as UTF-8"
        return YamlFile(path, display, [], SpecIssue.at(where, message))
    return parse_yaml(text, display, path)
