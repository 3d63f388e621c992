"""JSON Schema (draft 2020-12) validation with human messages, and schema defaults.

The schemas live in `schemas/<kind>.schema.json` at the repository root (editors use
them too). jsonschema's errors are translated into `file:line:col`-ready messages here;
the custom annotation `x-hint` on a schema adds the "what is allowed" part.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from components.spec.errors import Location
from components.spec.yaml_source import FieldPath, YamlDocument

KINDS = ("Bucket", "Dataset", "Model", "Publication")
API_VERSION = "edge-labeler/v1"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

# One translated problem: field path, where to point, message.
Problem = tuple[FieldPath, Location, str]


def schema_path(kind: str) -> Path:
    """schemas/<kind>.schema.json."""
    return SCHEMA_DIR / f"{kind.lower()}.schema.json"


@functools.cache
def load_schema(kind: str) -> Mapping[str, Any]:
    """The parsed JSON Schema of a kind (cached; do not modify)."""
    return json.loads(schema_path(kind).read_text(encoding="utf-8"))


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


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


def _translate(error: ValidationError, doc: YamlDocument) -> Iterator[Problem]:
    path: FieldPath = tuple(error.absolute_path)
    keyword, expected, instance, schema = (
        error.validator,
        error.validator_value,
        error.instance,
        error.schema,
    )
    value_at = doc.value_location(path)
    key_at = doc.key_location(path)

    if "propertyNames" in error.absolute_schema_path:
        # `instance` is the offending key of the mapping at `path`.
        yield (
            (*path, instance),
            doc.key_location((*path, instance)),
            _hinted(f"{show(instance)} is not a valid key", schema),
        )
    elif keyword == "additionalProperties" and expected is False:
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield (
                    (*path, key),
                    doc.key_location((*path, key)),
                    f"unknown field{did_you_mean(key, allowed)}; allowed here: {_join(allowed)}",
                )
    elif keyword == "required":
        for name in expected:
            if name not in instance:
                deleted = doc.deleted.get((*path, name))
                message = "required field is missing"
                prop = schema.get("properties", {}).get(name, {})
                if deleted is not None:
                    message += " (the overlay deletes it with null)"
                elif "oneOf" in prop and (options := _exactly_one_options(prop["oneOf"])):
                    message += f" (give one of {_join(options)})"
                yield ((*path, name), deleted or key_at, message)
    elif keyword == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        yield (path, value_at, _hinted(f"expected {names}, got {_got(instance)}", schema))
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        text = {
            "minimum": f"{show(instance)} is below the minimum {show(expected)}",
            "maximum": f"{show(instance)} is above the maximum {show(expected)}",
            "exclusiveMinimum": f"{show(instance)} must be greater than {show(expected)}",
            "exclusiveMaximum": f"{show(instance)} must be less than {show(expected)}",
        }[keyword]
        yield (path, value_at, _hinted(text, schema))
    elif keyword == "enum":
        allowed = [str(v) for v in expected]
        yield (
            path,
            value_at,
            f"{show(instance)} is not one of {_join(allowed)}{did_you_mean(instance, allowed)}",
        )
    elif keyword == "const":
        yield (
            path,
            value_at,
            f"{show(instance)} is not supported; the only accepted value is {show(expected)}",
        )
    elif keyword == "pattern":
        yield (path, value_at, _hinted(f"{show(instance)} does not match {expected}", schema))
    elif keyword == "minLength":
        yield (path, value_at, _hinted("must not be empty", schema))
    elif keyword == "minItems":
        yield (path, value_at, _hinted(f"needs at least {expected} item(s)", schema))
    elif keyword == "maxItems":
        yield (
            path,
            value_at,
            _hinted(f"has {len(instance)} items; at most {expected} are allowed", schema),
        )
    elif keyword == "uniqueItems":
        seen: list[Any] = []
        for index, item in enumerate(instance):
            if item in seen:
                yield (
                    (*path, index),
                    doc.value_location((*path, index)),
                    f"{show(item)} is listed more than once",
                )
            else:
                seen.append(item)
    elif keyword == "minProperties":
        yield (path, key_at, _hinted("must not be empty", schema))
    elif keyword == "maxProperties":
        yield (
            path,
            value_at,
            _hinted(f"has {len(instance)} entries; at most {expected} are allowed", schema),
        )
    elif keyword == "dependentRequired":
        for name, needs in expected.items():
            if name in instance:
                for need in needs:
                    if need not in instance:
                        prop = schema.get("properties", {}).get(name, {})
                        yield (
                            (*path, name),
                            doc.key_location((*path, name)),
                            _hinted(f"is only allowed together with '{need}'", prop),
                        )
    elif keyword == "oneOf" and (options := _exactly_one_options(expected)) is not None:
        present = [key for key in instance if key in options]
        if not present:
            yield (path, key_at, f"needs exactly one of {_join(options)}; none is given")
        else:
            yield (
                path,
                doc.key_location((*path, present[1])),
                f"give exactly one of {_join(options)}; found {' and '.join(present)}",
            )
    else:  # keywords the schemas do not use today: jsonschema's own wording
        yield (path, value_at, error.message)


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
