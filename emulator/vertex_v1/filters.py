"""List filters in the style of Google's filtering syntax (AIP-160), as Vertex AI documents them.

Supported, per resource kind (the caller names its fields):
    field = value      field != value      field : pattern      (a `*` in the pattern is a wildcard)
    labels.key = value      labels.key != value      labels.key : *      labels : key
    labels."a key" = value  (a quoted key: keys with spaces, dots or dashes)
terms joined by AND (or side by side), each optionally negated with NOT or a leading `-`.
Values may be quoted ("x" or 'x'). Field names are accepted in snake_case and camelCase.
OR and parentheses are not supported: InvalidArgument says so. The core lists resources; the
facade filters them with the predicate parsed here, and orders them with `parse_order_by`
(`order_by`: "display_name, create_time desc", the fields each list method documents).
"""

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from emulator.core.errors import InvalidArgument

T = TypeVar("T")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<quoted>"[^"]*"|'[^']*')
      | (?P<op>!=|=|:)
      | (?P<paren>[()])
      | (?P<word>[^\s=:!()"']+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Fields(Generic[T]):
    """What a filter can see of a resource: named string fields and its labels."""

    values: Mapping[str, Callable[[T], str]]  # snake_case name → getter
    labels: Callable[[T], Mapping[str, str]]

    def getter(self, name: str) -> Callable[[T], str] | None:
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        return self.values.get(snake)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _tokens(text: str, error: Callable[[str], InvalidArgument]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise error(f"unexpected character {text[position:].strip()[0]!r}")
        kind = match.lastgroup or "word"
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def _unquote(kind: str, text: str) -> str:
    return text[1:-1] if kind == "quoted" else text


def parse_filter(text: str, fields: Fields[T], what: str = "filter") -> Callable[[T], bool]:
    """A predicate for `text` ("" matches everything); InvalidArgument naming what is wrong."""
    supported = ", ".join(
        [f"{name} = x, {name} != x, {name} : pattern*" for name in fields.values]
        + ['labels.key = x, labels.key != x, labels.key : *, labels : key, labels."a key" = x']
    )
    camel = {_camel(name) for name in fields.values} - set(fields.values)

    def error(message: str) -> InvalidArgument:
        accepted = f" (or camelCase: {', '.join(sorted(camel))})" if camel else ""
        return InvalidArgument(
            f"Field: {what}; Message: {message} in {text!r}; supported: {supported}{accepted}, "
            "joined with AND and negated with NOT"
        )

    tokens = _tokens(text or "", error)
    checks: list[Callable[[T], bool]] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word" and value == "AND":
            if not checks or i + 1 == len(tokens):
                raise error("AND needs a term on each side")
            i += 1
            continue
        if kind == "word" and value == "OR":
            raise error("OR is not supported by the emulator")
        if kind == "paren":
            raise error("parentheses are not supported by the emulator")
        negate = False
        if kind == "word" and value == "NOT":
            negate, i = True, i + 1
        elif kind == "word" and value.startswith("-") and len(value) > 1:
            negate, tokens[i] = True, ("word", value[1:])
        check, i = _comparison(tokens, i, fields, error)
        checks.append(_negated(check) if negate else check)
    return lambda resource: all(check(resource) for check in checks)


def _negated(check: Callable[[T], bool]) -> Callable[[T], bool]:
    return lambda resource: not check(resource)


def _comparison(
    tokens: list[tuple[str, str]],
    i: int,
    fields: Fields[T],
    error: Callable[[str], InvalidArgument],
) -> tuple[Callable[[T], bool], int]:
    if i >= len(tokens) or tokens[i][0] not in ("word", "quoted"):
        raise error("a comparison is missing")
    kind, name = tokens[i]
    i += 1
    key = None
    if kind == "word" and name.startswith("labels."):
        key = name.removeprefix("labels.")
        if not key and i < len(tokens) and tokens[i][0] == "quoted":
            key = _unquote(*tokens[i])
            i += 1
        if not key:
            raise error("labels. needs a key")
        name = "labels"
    if i + 1 >= len(tokens) or tokens[i][0] != "op" or tokens[i + 1][0] not in ("word", "quoted"):
        raise error(f"{name} must be followed by =, != or : and a value")
    op = tokens[i][1]
    value_kind, raw = tokens[i + 1]
    value = _unquote(value_kind, raw)
    i += 2
    if name == "labels":
        if key is None:  # labels : key
            if op != ":":
                raise error("labels without a key only supports labels : key")
            return (lambda r, k=value: k in fields.labels(r)), i
        if op == ":":
            if value != "*":
                raise error(f"labels.{key} : {value} is not supported; use labels.{key} : *")
            return (lambda r, k=key: k in fields.labels(r)), i
        equal = op == "="
        return (lambda r, k=key, v=value: (fields.labels(r).get(k) == v) == equal), i
    getter = fields.getter(name)
    if getter is None:
        raise error(f"{name} is not a field that can be filtered on")
    if op == ":":
        return (lambda r, g=getter, p=value: fnmatch.fnmatchcase(g(r), p)), i
    equal = op == "="
    return (lambda r, g=getter, v=value: (g(r) == v) == equal), i


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def parse_order_by(
    text: str, keys: Mapping[str, Callable[[T], Any]], field: str = "order_by"
) -> Callable[[list[T]], list[T]]:
    """Sorts a list by `text`: comma-separated fields (snake_case or camelCase), each
    ascending or followed by `desc` (or `asc`); "" keeps the list's order (oldest first)."""
    order: list[tuple[Callable[[T], Any], bool]] = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part and not (text or "").strip():
            continue
        words = part.split()
        name = _snake(words[0]) if words else ""
        direction = words[1].lower() if len(words) == 2 else "asc"
        if not words or len(words) > 2 or direction not in ("asc", "desc") or name not in keys:
            raise InvalidArgument(
                f"Field: {field}; Message: {part!r} in {text!r} cannot order this list; "
                f"supported: {', '.join(keys)}, each optionally followed by desc, "
                "separated by commas"
            )
        order.append((keys[name], direction == "desc"))

    def apply(items: list[T]) -> list[T]:
        result = list(items)
        for key, descending in reversed(order):  # stable sorts: the first field wins
            result.sort(key=key, reverse=descending)
        return result

    return apply
