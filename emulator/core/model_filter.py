"""The `filter` of Firebase ML's `projects.models.list`, parsed into a predicate.

Fields and forms, as Firebase's guide (manage-hosted-models, "List your project's models")
documents them:
    display_name = example_model        display_name != example_model
    display_name : experimental_*       (prefix match: a trailing `*` only)
    tags: face_detector                 tags: face_detector AND tags: experimental
    state.published = true              state.published = false
combined with AND, OR, NOT (or a leading `-`) and parentheses. Precedence follows Google's
filter syntax (AIP-160): OR binds tighter than AND, and terms side by side are ANDed.
Values may be quoted ('x' or "x").
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emulator.core.firebase_errors import FieldViolation


@dataclass(frozen=True)
class Filterable:
    """What a filter can see of a model."""

    display_name: str
    tags: Sequence[str]
    published: bool


Predicate = Callable[[Filterable], bool]

FIELDS = ("display_name", "tags", "state.published")
_FIELD_ALIASES = {"displayName": "display_name", "state.published": "state.published"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()])
      | (?P<op>!=|=|:)
      | (?P<quoted>"[^"]*"|'[^']*')
      | (?P<word>[^\s()=:!"']+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # paren | op | quoted | word
    text: str
    at: int  # character offset, for messages


def _error(text: str, message: str) -> FieldViolation:
    """The service's generic 400; what is wrong and what is supported go in its details."""
    return FieldViolation(
        "filter",
        f"{message} in {text!r}; supported: display_name = x, display_name != x, "
        "display_name : prefix*, tags: x, state.published = true|false, joined with AND, OR, "
        "NOT and parentheses",
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _error(text, f"unexpected character {text[pos:].lstrip()[:1]!r}")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, expected: str) -> _Token:
        token = self._peek()
        if token is None:
            raise _error(self.text, f"{expected} expected at the end")
        self.pos += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "word" and token.text == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda model: True
        predicate = self._and()
        token = self._peek()
        if token is not None:
            raise _error(self.text, f"unexpected {token.text!r} at position {token.at}")
        return predicate

    def _and(self) -> Predicate:
        parts = [self._or()]
        while True:
            token = self._peek()
            if token is None or (token.kind == "paren" and token.text == ")"):
                break
            self._keyword("AND")  # optional: terms side by side are ANDed
            parts.append(self._or())
        return parts[0] if len(parts) == 1 else lambda m: all(p(m) for p in parts)

    def _or(self) -> Predicate:
        parts = [self._unary()]
        while self._keyword("OR"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda m: any(p(m) for p in parts)

    def _unary(self) -> Predicate:
        if self._keyword("NOT"):
            inner = self._unary()
            return lambda m: not inner(m)
        token = self._peek()
        if token is not None and token.kind == "word" and token.text.startswith("-"):
            # `-tags:x` negates; strip the sign and parse the rest as a term.
            self.tokens[self.pos] = _Token("word", token.text[1:], token.at + 1)
            inner = self._unary()
            return lambda m: not inner(m)
        return self._primary()

    def _primary(self) -> Predicate:
        token = self._next("a restriction")
        if token.kind == "paren" and token.text == "(":
            inner = self._and()
            close = self._next("')'")
            if close.text != ")":
                raise _error(self.text, f"')' expected at position {close.at}")
            return inner
        if token.kind != "word" or token.text in ("AND", "OR", "NOT"):
            raise _error(self.text, f"a field name expected at position {token.at}")
        field = _FIELD_ALIASES.get(token.text, token.text)
        if field not in FIELDS:
            raise _error(
                self.text, f"unknown field {token.text!r}; filterable: {', '.join(FIELDS)}"
            )
        op = self._next("an operator")
        if op.kind != "op":
            raise _error(self.text, f"'=', '!=' or ':' expected at position {op.at}")
        value_token = self._next("a value")
        if value_token.kind not in ("word", "quoted"):
            raise _error(self.text, f"a value expected at position {value_token.at}")
        value = value_token.text
        if value_token.kind == "quoted":
            value = value[1:-1]
        return _restriction(self.text, field, op.text, value)


def _restriction(text: str, field: str, op: str, value: str) -> Predicate:
    if field == "state.published":
        if op == ":" or value not in ("true", "false"):
            raise _error(
                text, f"state.published takes = or != with true or false, not {op} {value}"
            )
        wanted = value == "true"
        if op == "=":
            return lambda m: m.published == wanted
        return lambda m: m.published != wanted
    if "*" in value.rstrip("*") or value.count("*") > 1:
        raise _error(text, f"{value!r}: only a trailing '*' (prefix match) is supported")
    if field == "tags":
        if value.endswith("*"):
            raise _error(text, "tags are matched exactly; '*' is not supported")
        if op == "!=":
            return lambda m: value not in m.tags
        return lambda m: value in m.tags
    # display_name
    if value.endswith("*"):
        prefix = value[:-1]
        if op == "!=":
            return lambda m: not m.display_name.startswith(prefix)
        return lambda m: m.display_name.startswith(prefix)
    if op == "!=":
        return lambda m: m.display_name != value
    return lambda m: m.display_name == value


def parse_filter(text: str) -> Predicate:
    """The predicate of a models.list filter ("" matches every model); FieldViolation if bad."""
    return _Parser(text or "").parse()
