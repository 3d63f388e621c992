"""Remote Config condition expressions: parsed by the documented grammar, evaluated for one app.

A condition's `expression` is a conjunction of rules (Firebase's "Remote Config conditional
expression reference", emulator/FIDELITY.md has every source):

    rule ( " && " rule )*           `&&` needs a space on both sides; no `||`, `!` or parentheses

    true | false
    percent [ "('" seed "')" ] ( <= P | > P | between P and P )       P in 0..100, 6 decimals
    app.id ( == | != ) 'id'
    app.version . op ( [ 'v', ... ] )   and   app.build . op ( [ 'b', ... ] )
        op: exactlyMatches, contains, notContains, matches (a regex), or ==, !=, <, <=, >, >=
        (the numeric comparisons take one dotted number: app.version.>=(['2.1.0']))
    device.os ( == | != ) 'ios' | 'android' | 'web'
    device.country in [ 'us', 'gb', ... ]         ISO 3166-1 alpha-2, any case
    device.language in [ 'en-US', ... ]
    dateTime ( < | <= | > | >= ) dateTime('2025-06-01T00:00:00' [, 'Area/City'])
        (`device.dateTime` is accepted as the same element)
    app.firstOpenTimestamp ( <= | > ) ( '2022-10-31T14:37:47' [, 'Area/City'] )
    app.audiences . ( inAtLeastOne | notInAtLeastOne | inAll | notInAll ) ( [ 'name', ... ] )
    app.userProperty['key'] . ( exactlyMatches | contains | notContains | matches ) ( [ ... ] )
    app.userProperty['key'] ( == | != | < | <= | > | >= ) number
    app.customSignal['key'] ... as app.userProperty
    version(app.customSignal['key']) ( == | != | < | <= | > | >= ) '1.2.3'
    app.firebaseInstallationId in [ 'fid', ... ]

Server templates (namespace `firebase-server`) accept only `true`, `false`, `percent` and
`app.customSignal` rules ("Server templates currently support percent conditions").

`evaluate(condition, instance)` answers for one app instance (`AppInstance`). A rule whose
signal the instance does not have is false ("If the value for a rule is undefined ... that rule
will evaluate to false"). The user's percentile is firebase-admin's server-side algorithm
(remote_config.py, `_ConditionEvaluator.evaluate_percent_condition`): SHA-256 of
`"<seed>.<randomization id>"` (of the id alone without a seed), as an integer, modulo
100,000,000 micro-percent; `percent <= 10` holds for micro-percentiles 0..10,000,000 and
`between a and b` for (a, b] — so 10 % of randomization ids, independently per seed.
"""

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MICRO_PERCENT_MAX = 100_000_000  # 100 %
MAX_RULES = 50  # "SINGLE_OR_MULTI_AND ... (max 50 atoms)" (secondary source, FIDELITY.md)
SEED_PATTERN = re.compile(r"[-_.0-9a-zA-Z]{0,32}")  # PercentCondition.seed (Admin SDK reference)
COUNTRY_PATTERN = re.compile(r"[A-Za-z]{2}")
LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
NUMERIC_VERSION = re.compile(r"\d+(?:[\d.]*\d)?")  # a dotted number: 2, 2.1, 2.1.0
SEMANTIC_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,4}")
OS_VALUES = ("ios", "android", "web")

STRING_METHODS = ("exactlyMatches", "contains", "notContains", "matches")
AUDIENCE_METHODS = ("inAtLeastOne", "notInAtLeastOne", "inAll", "notInAll")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
TIME_COMPARISONS = ("<", "<=", ">", ">=")
PERCENT_OPERATORS = ("<=", ">", "between")
SERVER_ELEMENTS = ("true", "false", "percent", "app.customSignal")

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|\.)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


class ConditionSyntaxError(ValueError):
    """An expression the grammar refuses; the message says where and what is allowed."""


@dataclass(frozen=True)
class Rule:
    """One rule of a condition.

    `element` is the documented element (`percent`, `app.version`, `device.country`, ...),
    `operator` its operator or method (`<=`, `between`, `in`, `exactlyMatches`, `inAll`, ...),
    `values` its operands as written (percent operands in micro-percent), `key` the seed of a
    percent rule or the key of a user property / custom signal, `semantic` whether a custom
    signal is compared as a version (`version(app.customSignal['k'])`).
    """

    element: str
    operator: str = ""
    values: tuple[str, ...] = ()
    key: str = ""
    semantic: bool = False


@dataclass(frozen=True)
class Condition:
    """A parsed expression: every rule must hold."""

    expression: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AppInstance:
    """What the service knows of one app instance when it fetches (empty: not known)."""

    app_id: str = ""
    app_version: str = ""
    app_build: str = ""
    platform: str = ""  # device.os: ios | android | web
    country: str = ""  # ISO 3166-1 alpha-2
    language: str = ""
    randomization_id: str = ""  # the Firebase installation ID (server templates: randomizationId)
    now: datetime | None = None
    first_open: datetime | None = None
    audiences: frozenset[str] = frozenset()
    user_properties: Mapping[str, str] = field(default_factory=dict)
    custom_signals: Mapping[str, str] = field(default_factory=dict)


# ---- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # string | number | op | name | end
    text: str
    at: int  # character offset in the expression

    @property
    def value(self) -> str:
        """A string token's content, unquoted and unescaped."""
        return re.sub(r"\\(.)", r"\1", self.text[1:-1])


def _tokens(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if match is None:
            char = expression[at]
            if char in "'\"":
                raise ConditionSyntaxError(f"at character {at + 1}: unterminated string")
            raise ConditionSyntaxError(f"at character {at + 1}: unexpected {char!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), at))
        at = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


def _check_conjunctions(expression: str, tokens: list[_Token]) -> None:
    """`&&` needs a space before and after it (the reference's note); `||` and `!` are refused."""
    for token in tokens:
        if token.text == "||":
            raise ConditionSyntaxError(
                f"at character {token.at + 1}: Expected exactly one term in OR condition here "
                "(conditions are conjunctions: use `in [...]` lists or separate conditions)"
            )
        if token.text == "!":
            raise ConditionSyntaxError(
                f"at character {token.at + 1}: NOT condition is not allowed here (use !=, "
                "notContains, notInAtLeastOne or notInAll)"
            )
        if token.text == "&&":
            before = expression[token.at - 1 : token.at]
            after = expression[token.at + 2 : token.at + 3]
            if before != " " or after != " ":
                raise ConditionSyntaxError(
                    f"at character {token.at + 1}: `&&` needs a space before and after it"
                )


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        _check_conjunctions(expression, self.tokens)
        self.i = 0

    # -- helpers --

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str, token: _Token | None = None) -> ConditionSyntaxError:
        token = token or self.peek
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return ConditionSyntaxError(
            f"at character {token.at + 1}: expected {expected}, found {found}"
        )

    def expect(self, text: str) -> _Token:
        if self.peek.text != text or self.peek.kind not in ("op", "name"):
            raise self.fail(repr(text))
        return self.take()

    def string(self, what: str = "a quoted string") -> str:
        if self.peek.kind != "string":
            raise self.fail(what)
        return self.take().value

    def number(self) -> float:
        if self.peek.kind != "number":
            raise self.fail("a number")
        return float(self.take().text)

    def one_of(self, options: tuple[str, ...], what: str) -> str:
        token = self.peek
        if token.kind not in ("op", "name") or token.text not in options:
            raise self.fail(f"{what} ({', '.join(options)})")
        return self.take().text

    def string_list(self) -> tuple[str, ...]:
        """[ 'a', 'b' ] — at least one string."""
        self.expect("[")
        values = [self.string("a quoted string in the list")]
        while self.peek.text == ",":
            self.take()
            values.append(self.string("a quoted string in the list"))
        self.expect("]")
        return tuple(values)

    def path(self) -> str:
        """A dotted element name (`app.version`), stopping before a method or operator."""
        if self.peek.kind != "name":
            raise self.fail("a rule (e.g. percent <= 10, device.country in ['us'])")
        parts = [self.take().text]
        while (
            self.peek.text == "."
            and self.tokens[self.i + 1].kind == "name"
            and ".".join(parts) in ("app", "device")
        ):
            self.take()
            parts.append(self.take().text)
        return ".".join(parts)

    # -- grammar --

    def condition(self) -> Condition:
        rules = [self.rule()]
        while self.peek.text == "&&":
            self.take()
            rules.append(self.rule())
        if self.peek.kind != "end":
            raise self.fail("`&&` or the end of the expression")
        if len(rules) > MAX_RULES:
            raise ConditionSyntaxError(f"{len(rules)} rules; a condition has at most {MAX_RULES}")
        return Condition(self.expression, tuple(rules))

    def rule(self) -> Rule:
        start = self.peek
        if start.text == "(":
            raise self.fail("a rule (parentheses are not part of the grammar)")
        element = self.path()
        parse = _ELEMENTS.get(element)
        if parse is None:
            raise ConditionSyntaxError(
                f"at character {start.at + 1}: unknown element {element!r}; the emulator knows "
                f"{', '.join(sorted(_ELEMENTS))}"
            )
        return parse(self, element)

    def constant(self, element: str) -> Rule:
        return Rule(element)

    def percent(self, element: str) -> Rule:
        seed = ""
        if self.peek.text == "(":
            self.take()
            seed = self.string("a quoted seed")
            self.expect(")")
            if SEED_PATTERN.fullmatch(seed) is None:
                raise ConditionSyntaxError(
                    f"percent seed {seed!r}: 0 to 32 of the characters [-_.0-9a-zA-Z]"
                )
        operator = self.one_of(PERCENT_OPERATORS, "a percent operator")
        if operator == "between":
            low = self.percentage()
            self.expect("and")
            high = self.percentage()
            if low >= high:
                raise ConditionSyntaxError(
                    f"percent between {low / 1e6:g} and {high / 1e6:g}: the lower bound must be "
                    "below the upper one"
                )
            return Rule(element, operator, (str(low), str(high)), key=seed)
        return Rule(element, operator, (str(self.percentage()),), key=seed)

    def percentage(self) -> int:
        """A percentage 0..100 as micro-percent (six decimals at most)."""
        token = self.peek
        value = self.number()
        micro = round(value * 1_000_000)
        if not 0 <= micro <= MICRO_PERCENT_MAX or abs(micro - value * 1_000_000) > 1e-3:
            raise ConditionSyntaxError(
                f"at character {token.at + 1}: percentage {token.text} is not between 0 and 100 "
                "with at most 6 decimals"
            )
        return micro

    def app_id(self, element: str) -> Rule:
        operator = self.one_of(("==", "!="), "an operator")
        return Rule(element, operator, (self.string("a quoted app id"),))

    def version(self, element: str) -> Rule:
        self.expect(".")
        operator = self.one_of((*STRING_METHODS, *COMPARISONS), "a method or comparison")
        self.expect("(")
        values = self.string_list()
        self.expect(")")
        if operator in COMPARISONS:
            if len(values) != 1 or NUMERIC_VERSION.fullmatch(values[0]) is None:
                raise ConditionSyntaxError(
                    f"{element}.{operator}: compares with exactly one dotted number "
                    f"(e.g. {element}.{operator}(['2.1.0'])), not {list(values)}"
                )
        elif operator == "matches":
            _check_regexes(values)
        return Rule(element, operator, values)

    def os(self, element: str) -> Rule:
        operator = self.one_of(("==", "!="), "an operator")
        value = self.string("a quoted platform")
        if value.lower() not in OS_VALUES:
            raise ConditionSyntaxError(f"device.os {value!r}: one of {', '.join(OS_VALUES)}")
        return Rule(element, operator, (value.lower(),))

    def country(self, element: str) -> Rule:
        self.expect("in")
        values = self.string_list()
        pattern = COUNTRY_PATTERN if element == "device.country" else LANGUAGE_PATTERN
        bad = [v for v in values if pattern.fullmatch(v) is None]
        if bad:
            what = (
                "an ISO 3166-1 alpha-2 country code"
                if element == "device.country"
                else "a language tag (en, en-US)"
            )
            raise ConditionSyntaxError(f"{element} {bad[0]!r} is not {what}")
        return Rule(element, "in", values)

    def date_time(self, element: str) -> Rule:
        operator = self.one_of(TIME_COMPARISONS, "a comparison")
        self.expect("dateTime")
        return Rule("dateTime", operator, self.time_arguments())

    def first_open(self, element: str) -> Rule:
        operator = self.one_of(TIME_COMPARISONS, "a comparison")
        if self.peek.text == "dateTime":
            self.take()
        return Rule(element, operator, self.time_arguments())

    def time_arguments(self) -> tuple[str, ...]:
        """('2025-06-01T00:00:00' [, 'Area/City']): an ISO time, then an optional time zone."""
        self.expect("(")
        values = [self.string("a quoted ISO date and time")]
        if self.peek.text == ",":
            self.take()
            values.append(self.string("a quoted time zone"))
        self.expect(")")
        _instant(tuple(values))  # refuses what cannot be read
        return tuple(values)

    def audiences(self, element: str) -> Rule:
        self.expect(".")
        operator = self.one_of(AUDIENCE_METHODS, "a method")
        self.expect("(")
        values = self.string_list()
        self.expect(")")
        return Rule(element, operator, values)

    def keyed(self, element: str) -> Rule:
        """app.userProperty['k'] / app.customSignal['k']: a string method or a comparison."""
        self.expect("[")
        key = self.string("a quoted key")
        self.expect("]")
        if self.peek.text == ".":
            self.take()
            operator = self.one_of(STRING_METHODS, "a method")
            self.expect("(")
            values = self.string_list()
            self.expect(")")
            if operator == "matches":
                _check_regexes(values)
            return Rule(element, operator, values, key=key)
        operator = self.one_of(COMPARISONS, "a method (.exactlyMatches, ...) or a comparison")
        if self.peek.kind != "number":
            raise self.fail("a number (strings are compared with .exactlyMatches([...]))")
        return Rule(element, operator, (self.take().text,), key=key)

    def semantic(self, element: str) -> Rule:
        """version(app.customSignal['k']) op 'x.y.z'."""
        self.expect("(")
        if self.path() != "app.customSignal":
            raise self.fail("app.customSignal['key']", self.tokens[self.i - 1])
        self.expect("[")
        key = self.string("a quoted key")
        self.expect("]")
        self.expect(")")
        operator = self.one_of(COMPARISONS, "a comparison")
        value = self.string("a quoted version")
        if SEMANTIC_VERSION.fullmatch(value) is None:
            raise ConditionSyntaxError(
                f"version {value!r}: one to five dot-separated numbers (e.g. '1.2.3')"
            )
        return Rule("app.customSignal", operator, (value,), key=key, semantic=True)

    def installation(self, element: str) -> Rule:
        self.expect("in")
        return Rule(element, "in", self.string_list())


_ELEMENTS = {
    "true": _Parser.constant,
    "false": _Parser.constant,
    "percent": _Parser.percent,
    "app.id": _Parser.app_id,
    "app.version": _Parser.version,
    "app.build": _Parser.version,
    "device.os": _Parser.os,
    "device.country": _Parser.country,
    "device.language": _Parser.country,
    "dateTime": _Parser.date_time,
    "device.dateTime": _Parser.date_time,
    "app.firstOpenTimestamp": _Parser.first_open,
    "app.audiences": _Parser.audiences,
    "app.userProperty": _Parser.keyed,
    "app.customSignal": _Parser.keyed,
    "version": _Parser.semantic,
    "app.firebaseInstallationId": _Parser.installation,
}


def _check_regexes(values: tuple[str, ...]) -> None:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise ConditionSyntaxError(f"regular expression {value!r}: {exc}") from None


def _instant(values: tuple[str, ...]) -> datetime:
    """The instant of ('2025-06-01T00:00:00' [, 'Area/City']); GMT without a zone."""
    try:
        moment = datetime.fromisoformat(values[0])
    except ValueError:
        raise ConditionSyntaxError(
            f"{values[0]!r} is not an ISO date and time (e.g. '2025-06-01T00:00:00')"
        ) from None
    if moment.tzinfo is None:
        zone: ZoneInfo | None = None
        if len(values) > 1:
            try:
                zone = ZoneInfo(values[1])
            except (ZoneInfoNotFoundError, ValueError):
                raise ConditionSyntaxError(f"{values[1]!r} is not a time zone") from None
        moment = moment.replace(tzinfo=zone or UTC)
    return moment


def parse_condition(expression: str, *, server: bool = False) -> Condition:
    """The parsed expression; ConditionSyntaxError says what is wrong.

    `server`: a server template's condition (only true, false, percent and app.customSignal).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ConditionSyntaxError("the expression is empty")
    condition = _Parser(expression).condition()
    if server:
        for rule in condition.rules:
            if rule.element not in SERVER_ELEMENTS:
                raise ConditionSyntaxError(
                    f"{rule.element} is not supported in server templates (firebase-server): "
                    "they support percent and app.customSignal rules"
                )
    return condition


# ---- evaluation -----------------------------------------------------------------------------


def user_percentile(randomization_id: str, seed: str = "") -> int:
    """The instance's pseudo-random percentile in micro-percent, 0 ≤ p < 100,000,000."""
    text = f"{seed}.{randomization_id}" if seed else randomization_id
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % MICRO_PERCENT_MAX


def _version_order(actual: str, target: str) -> int | None:
    """-1, 0 or 1 comparing dotted numbers (missing parts are 0); None when not numbers."""
    try:
        left = [int(part) for part in actual.split(".")]
        right = [int(part) for part in target.split(".")]
    except ValueError:
        return None
    if any(part < 0 for part in (*left, *right)):
        return None
    width = max(len(left), len(right))
    left += [0] * (width - len(left))
    right += [0] * (width - len(right))
    return (left > right) - (left < right)


def _number_order(actual: str, target: str) -> int | None:
    try:
        left, right = float(actual), float(target)
    except ValueError:
        return None
    return (left > right) - (left < right)


_ORDER_HOLDS: dict[str, Callable[[int], bool]] = {
    "==": lambda order: order == 0,
    "!=": lambda order: order != 0,
    "<": lambda order: order < 0,
    "<=": lambda order: order <= 0,
    ">": lambda order: order > 0,
    ">=": lambda order: order >= 0,
}


def _string_method(method: str, actual: str, targets: tuple[str, ...]) -> bool:
    if method == "exactlyMatches":
        return any(target.strip() == actual.strip() for target in targets)
    if method == "contains":
        return any(target in actual for target in targets)
    if method == "notContains":
        return not any(target in actual for target in targets)
    return any(re.search(target, actual) is not None for target in targets)  # matches


def _holds(rule: Rule, instance: AppInstance) -> bool:
    element, operator, values = rule.element, rule.operator, rule.values
    if element in ("true", "false"):
        return element == "true"
    if element == "percent":
        if not instance.randomization_id:
            return False
        percentile = user_percentile(instance.randomization_id, rule.key)
        if operator == "<=":
            return percentile <= int(values[0])
        if operator == ">":
            return percentile > int(values[0])
        return int(values[0]) < percentile <= int(values[1])  # between: (low, high]
    if element == "app.id":
        if not instance.app_id:
            return False
        return (instance.app_id == values[0]) == (operator == "==")
    if element in ("app.version", "app.build"):
        actual = instance.app_version if element == "app.version" else instance.app_build
        if not actual:
            return False
        if operator in _ORDER_HOLDS:
            order = _version_order(actual, values[0])
            return order is not None and _ORDER_HOLDS[operator](order)
        return _string_method(operator, actual, values)
    if element == "device.os":
        if not instance.platform:
            return False
        return (instance.platform.lower() == values[0]) == (operator == "==")
    if element == "device.country":
        return bool(instance.country) and instance.country.upper() in {v.upper() for v in values}
    if element == "device.language":
        wanted = {v.lower().replace("_", "-") for v in values}
        return bool(instance.language) and instance.language.lower().replace("_", "-") in wanted
    if element in ("dateTime", "app.firstOpenTimestamp"):
        moment = instance.now if element == "dateTime" else instance.first_open
        if moment is None:
            return False
        target = _instant(values)
        order = (moment > target) - (moment < target)
        return _ORDER_HOLDS[operator](order)
    if element == "app.audiences":
        inside = [value in instance.audiences for value in values]
        return {
            "inAtLeastOne": any(inside),
            "notInAtLeastOne": not all(inside),
            "inAll": all(inside),
            "notInAll": not any(inside),
        }[operator]
    if element == "app.firebaseInstallationId":
        return bool(instance.randomization_id) and instance.randomization_id in values
    # app.userProperty / app.customSignal
    signals = instance.user_properties if element == "app.userProperty" else instance.custom_signals
    if rule.key not in signals:
        return False
    actual = str(signals[rule.key])
    if operator in STRING_METHODS:
        return _string_method(operator, actual, values)
    order = _version_order(actual, values[0]) if rule.semantic else _number_order(actual, values[0])
    return order is not None and _ORDER_HOLDS[operator](order)


def evaluate(condition: Condition, instance: AppInstance) -> bool:
    """Whether every rule of the condition holds for the instance."""
    return all(_holds(rule, instance) for rule in condition.rules)


# ---- server templates (serverRemoteConfig) --------------------------------------------------

_PERCENT_OPERATOR = {"<=": "LESS_OR_EQUAL", ">": "GREATER_THAN", "between": "BETWEEN"}
_SIGNAL_OPERATOR = {
    "exactlyMatches": "STRING_EXACTLY_MATCHES",
    "contains": "STRING_CONTAINS",
    "notContains": "STRING_DOES_NOT_CONTAIN",
    "matches": "STRING_CONTAINS_REGEX",
}
_COMPARISON_SUFFIX = {
    "==": "EQUAL",
    "!=": "NOT_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_EQUAL",
}


def _rule_json(rule: Rule) -> dict[str, object]:
    if rule.element in ("true", "false"):
        return {rule.element: {}}
    if rule.element == "percent":
        percent: dict[str, object] = {"percentOperator": _PERCENT_OPERATOR[rule.operator]}
        if rule.operator == "between":
            percent["microPercentRange"] = {
                "microPercentLowerBound": int(rule.values[0]),
                "microPercentUpperBound": int(rule.values[1]),
            }
        else:
            percent["microPercent"] = int(rule.values[0])
        if rule.key:
            percent["seed"] = rule.key
        return {"percent": percent}
    if rule.operator in _SIGNAL_OPERATOR:
        operator = _SIGNAL_OPERATOR[rule.operator]
    else:
        kind = "SEMANTIC_VERSION" if rule.semantic else "NUMERIC"
        operator = f"{kind}_{_COMPARISON_SUFFIX[rule.operator]}"
    return {
        "customSignal": {
            "customSignalOperator": operator,
            "customSignalKey": rule.key,
            "targetCustomSignalValues": list(rule.values),
        }
    }


def server_condition_json(condition: Condition) -> dict[str, object]:
    """The condition as a server template serves it (a OneOfCondition: an OR of one AND)."""
    rules = [_rule_json(rule) for rule in condition.rules]
    return {"orCondition": {"conditions": [{"andCondition": {"conditions": rules}}]}}
