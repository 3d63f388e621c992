"""JSON Schema (draft 2020-12) validation with human messages, and schema defaults.

The schemas are package data, `components/schemas/<kind>.schema.json` (read through
importlib.resources, so an installed edgectl finds them), and `spec.schema.json` combines them
for editors: one schema for a multi-document spec file, keyed by `kind`. jsonschema's errors
are translated into `file:line:col`-ready messages here; the custom annotation `x-hint` on a
schema adds the "what is allowed" part.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from components.spec.errors import Location
from components.spec.yaml_source import FieldPath, YamlDocument

KINDS = ("Bucket", "Dataset", "Model", "Publication", "Rollout")
API_VERSION = "edge-labeler/v1"
# `$id`s are URNs: absolute, and nothing an editor would try to download.
SCHEMA_ID = "urn:edge-labeler:schemas:v1:{name}"
COMBINED = "spec"  # spec.schema.json: every kind, chosen by the document's `kind`

# One translated problem: field path, where to point, message.
Problem = tuple[FieldPath, Location, str]


def schema_path(kind: str) -> Traversable:
    """components/schemas/<kind>.schema.json (`kind` a document kind, `review` or `spec`)."""
    return resources.files("components").joinpath("schemas", f"{kind.lower()}.schema.json")


def combined_schema() -> dict[str, Any]:
    """spec.schema.json: a spec file's documents, each validated by its kind's schema.

    Each kind's schema is embedded under `$defs` with its own `$id`, so its `#/$defs/…`
    references resolve inside it and an editor needs no other file.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(name=COMBINED),
        "title": "edge-labeler spec document",
        "description": (
            "One document of a spec file (specs/*.yaml), validated by the schema of its "
            f"`kind`: {', '.join(KINDS)}."
        ),
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": SCHEMA_ID.format(name=kind.lower())},
            }
            for kind in KINDS
        ],
        "$defs": {kind: dict(load_schema(kind)) for kind in KINDS},
    }


def write_combined_schema() -> None:
    """Regenerates spec.schema.json in a checkout (`make docs`)."""
    text = json.dumps(combined_schema(), indent=2, ensure_ascii=False) + "\n"
    with resources.as_file(schema_path(COMBINED)) as path:
        path.write_text(text, encoding="utf-8")


@functools.cache
def load_schema(kind: str) -> Mapping[str, Any]:
    """The parsed JSON Schema of a kind (cached; do not modify)."""
    schema: Mapping[str, Any] = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    # The schemas are this repository's files, checked against the metaschema by
    # tests/spec/test_schemas_and_readme.py: not again on every run (half a second).
    return Draft202012Validator(load_schema(kind))


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or '' when none is close."""
    if not isinstance(word, str):
        return ""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def format_path(path: FieldPath) -> str:
    """('spec', 'export', 1) → 'spec.export[1]'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def show(value: Any) -> str:
    """A value as a reader wrote it in YAML: 'text', 0.5, true, null, a mapping, a list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {show(value)}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, dict | list):
        return show(value)
    return f"the number {show(value)}"


def _join(words: Iterable[str]) -> str:
    return ", ".join(words)


def _hinted(message: str, schema: Mapping[str, Any]) -> str:
    hint = schema.get("x-hint") if isinstance(schema, Mapping) else None
    return f"{message} ({hint})" if hint else message


def _exactly_one_options(branches: Any) -> list[str] | None:
    """For `oneOf: [{required: [a]}, {required: [b]}]`, the option names a, b."""
    if not isinstance(branches, list):
        return None
    names = []
    for branch in branches:
        if not (isinstance(branch, dict) and set(branch) == {"required"}):
            return None
        if len(branch["required"]) != 1:
            return None
        names.append(branch["required"][0])
    return names


@dataclass(frozen=True)
class _Failure:
    """One jsonschema error, in the terms the translations below use."""

    keyword: str
    path: FieldPath  # of the failing value in the document
    expected: Any  # the keyword's value in the schema
    instance: Any  # the failing value
    schema: Mapping[str, Any]  # the schema holding the keyword
    doc: YamlDocument
    message: str  # jsonschema's own wording

    @classmethod
    def of(cls, error: ValidationError, doc: YamlDocument) -> _Failure:
        return cls(
            keyword=str(error.validator),
            path=tuple(error.absolute_path),
            expected=error.validator_value,
            instance=error.instance,
            schema=error.schema if isinstance(error.schema, Mapping) else {},
            doc=doc,
            message=error.message,
        )

    @property
    def value_at(self) -> Location:
        return self.doc.value_location(self.path)

    @property
    def key_at(self) -> Location:
        return self.doc.key_location(self.path)

    def child(self, key: str | int) -> FieldPath:
        return (*self.path, key)


_Translation = Callable[[_Failure], Iterator[Problem]]


def _translate(error: ValidationError, doc: YamlDocument) -> Iterator[Problem]:
    """A jsonschema error as problems: field path, where to point, a reader's message."""
    failure = _Failure.of(error, doc)
    if "propertyNames" in error.absolute_schema_path:
        return _bad_key(failure)
    return _TRANSLATIONS.get(failure.keyword, _as_jsonschema_says)(failure)


def _as_jsonschema_says(f: _Failure) -> Iterator[Problem]:
    """Keywords the schemas do not use today: jsonschema's own wording."""
    yield (f.path, f.value_at, f.message)


def _bad_key(f: _Failure) -> Iterator[Problem]:
    # `instance` is the offending key of the mapping at `path`.
    yield (
        f.child(f.instance),
        f.doc.key_location(f.child(f.instance)),
        _hinted(f"{show(f.instance)} is not a valid key", f.schema),
    )


def _hinted_at_value(text: Callable[[_Failure], str]) -> _Translation:
    """One problem at the value: `text`, with the schema's hint."""

    def translate(f: _Failure) -> Iterator[Problem]:
        yield (f.path, f.value_at, _hinted(text(f), f.schema))

    return translate


def _unknown_fields(f: _Failure) -> Iterator[Problem]:
    if f.expected is not False:
        yield from _as_jsonschema_says(f)
        return
    allowed = list(f.schema.get("properties", {}))
    for key in f.instance:
        if key not in allowed:
            yield (
                f.child(key),
                f.doc.key_location(f.child(key)),
                f"unknown field{did_you_mean(key, allowed)}; allowed here: {_join(allowed)}",
            )


def _missing(f: _Failure) -> Iterator[Problem]:
    for name in f.expected:
        if name not in f.instance:
            deleted = f.doc.deleted.get(f.child(name))
            message = "required field is missing"
            prop = f.schema.get("properties", {}).get(name, {})
            if deleted is not None:
                message += " (the overlay deletes it with null)"
            elif "oneOf" in prop and (options := _exactly_one_options(prop["oneOf"])):
                message += f" (give one of {_join(options)})"
            yield (f.child(name), deleted or f.key_at, message)


def _not_one_of(f: _Failure) -> Iterator[Problem]:
    allowed = [str(v) for v in f.expected]
    yield (
        f.path,
        f.value_at,
        f"{show(f.instance)} is not one of {_join(allowed)}{did_you_mean(f.instance, allowed)}",
    )


def _not_the_constant(f: _Failure) -> Iterator[Problem]:
    yield (
        f.path,
        f.value_at,
        f"{show(f.instance)} is not supported; the only accepted value is {show(f.expected)}",
    )


def _repeated_items(f: _Failure) -> Iterator[Problem]:
    seen: list[Any] = []
    for index, item in enumerate(f.instance):
        if item in seen:
            yield (
                f.child(index),
                f.doc.value_location(f.child(index)),
                f"{show(item)} is listed more than once",
            )
        else:
            seen.append(item)


def _empty_mapping(f: _Failure) -> Iterator[Problem]:
    yield (f.path, f.key_at, _hinted("must not be empty", f.schema))


def _without_companion(f: _Failure) -> Iterator[Problem]:
    for name, needs in f.expected.items():
        if name in f.instance:
            for need in needs:
                if need not in f.instance:
                    prop = f.schema.get("properties", {}).get(name, {})
                    yield (
                        f.child(name),
                        f.doc.key_location(f.child(name)),
                        _hinted(f"is only allowed together with '{need}'", prop),
                    )


def _not_exactly_one(f: _Failure) -> Iterator[Problem]:
    options = _exactly_one_options(f.expected)
    if options is None:
        yield from _as_jsonschema_says(f)
        return
    if not isinstance(f.instance, Mapping):  # `source: 5`: no keys to count
        if "type" not in f.schema:  # else the schema's `type` reports it already
            yield (f.path, f.value_at, f"expected a mapping, got {_got(f.instance)}")
        return
    present = [key for key in f.instance if key in options]
    if not present:
        yield (f.path, f.key_at, f"needs exactly one of {_join(options)}; none is given")
    else:
        yield (
            f.path,
            f.doc.key_location(f.child(present[1])),
            f"give exactly one of {_join(options)}; found {' and '.join(present)}",
        )


def _type_names(expected: Any) -> str:
    wanted: list[str] = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)


# One translation per JSON Schema keyword the schemas use.
_TRANSLATIONS: dict[str, _Translation] = {
    "additionalProperties": _unknown_fields,
    "required": _missing,
    "type": _hinted_at_value(
        lambda f: f"expected {_type_names(f.expected)}, got {_got(f.instance)}"
    ),
    "minimum": _hinted_at_value(
        lambda f: f"{show(f.instance)} is below the minimum {show(f.expected)}"
    ),
    "maximum": _hinted_at_value(
        lambda f: f"{show(f.instance)} is above the maximum {show(f.expected)}"
    ),
    "exclusiveMinimum": _hinted_at_value(
        lambda f: f"{show(f.instance)} must be greater than {show(f.expected)}"
    ),
    "exclusiveMaximum": _hinted_at_value(
        lambda f: f"{show(f.instance)} must be less than {show(f.expected)}"
    ),
    "enum": _not_one_of,
    "const": _not_the_constant,
    "pattern": _hinted_at_value(lambda f: f"{show(f.instance)} does not match {f.expected}"),
    "minLength": _hinted_at_value(lambda f: "must not be empty"),
    "maxLength": _hinted_at_value(
        lambda f: f"has {len(f.instance)} characters; at most {f.expected} are allowed"
    ),
    "minItems": _hinted_at_value(lambda f: f"needs at least {f.expected} item(s)"),
    "maxItems": _hinted_at_value(
        lambda f: f"has {len(f.instance)} items; at most {f.expected} are allowed"
    ),
    "uniqueItems": _repeated_items,
    "minProperties": _empty_mapping,
    "maxProperties": _hinted_at_value(
        lambda f: f"has {len(f.instance)} entries; at most {f.expected} are allowed"
    ),
    "dependentRequired": _without_companion,
    "oneOf": _not_exactly_one,
}


def validate_document(kind: str, doc: YamlDocument) -> list[Problem]:
    """Every schema problem of one document (its data as merged with any overlay)."""
    problems: list[Problem] = []
    for error in _validator(kind).iter_errors(doc.data):
        problems.extend(_translate(error, doc))
    return problems


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return _resolve(merged, root) if "$ref" in target else merged


def apply_defaults(kind: str, data: Any) -> Any:
    """A copy of a valid document with every schema `default` filled in."""
    root = load_schema(kind)

    def fill(value: Any, schema: Mapping[str, Any]) -> Any:
        schema = _resolve(schema, root)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            result = {}
            for key, child in value.items():
                if key in props:
                    result[key] = fill(child, props[key])
                elif isinstance(extra, dict):
                    result[key] = fill(child, extra)
                else:
                    result[key] = copy.deepcopy(child)
            for key, sub in props.items():
                sub = _resolve(sub, root)
                if key not in value and "default" in sub:
                    result[key] = fill(copy.deepcopy(sub["default"]), sub)
            return result
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [fill(item, schema["items"]) for item in value]
        return copy.deepcopy(value)

    return fill(data, root)
