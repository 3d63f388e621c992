"""Schemas are complete (descriptions, defaults, closed objects) and the README matches them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from components.cli import cli_reference, update_readme
from components.spec.reference import replace_section, spec_reference
from components.spec.schema import KINDS, load_schema

ROOT = Path(__file__).resolve().parents[2]


def _fields(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field schema (properties, items, map values), with a readable path."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _fields(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            yield f"{path}.<{key}>", sub
            yield from _fields(sub, f"{path}.<{key}>")
    for key in ("$defs",):
        for name, sub in schema.get(key, {}).items():
            yield from _fields(sub, f"{path}.$defs.{name}")


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12(kind):
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_has_a_description_and_objects_are_closed(kind):
    schema = load_schema(kind)
    missing, open_objects = [], []
    assert len(list(_fields(schema, kind))) >= 10
    for path, sub in _fields(schema, kind):
        target = sub
        if "$ref" in sub:
            target = {**schema["$defs"][sub["$ref"].rsplit("/", 1)[1]], **sub}
        if "description" not in target:
            missing.append(path)
        if target.get("type") == "object" and "additionalProperties" not in target:
            open_objects.append(path)
    assert missing == [] and open_objects == []


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_are_valid_values_of_their_field(kind):
    schema = load_schema(kind)
    for path, sub in _fields(schema, kind):
        if "default" in sub:
            validator = Draft202012Validator({**sub, "$defs": schema.get("$defs", {})})
            assert list(validator.iter_errors(sub["default"])) == [], path


def test_publication_schema_cites_firebase_limits():
    tags = load_schema("Publication")["properties"]["spec"]["properties"]["tags"]
    assert tags["maxItems"] == 20
    assert "_TAG_PATTERN" in tags["description"] and "v1beta2" in tags["description"]


def test_readme_reference_sections_are_in_sync():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = replace_section(readme, "spec-reference", spec_reference())
    expected = replace_section(expected, "cli-reference", cli_reference())
    assert readme == expected, "README.md is out of date: run `make docs`"


def test_update_readme_rewrites_only_the_marked_sections(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# title\n<!-- spec-reference:start -->\nold\n<!-- spec-reference:end -->\nmiddle\n"
        "<!-- cli-reference:start -->\n<!-- cli-reference:end -->\ntail\n"
    )
    assert update_readme(readme) is True
    text = readme.read_text()
    assert text.startswith("# title\n<!-- spec-reference:start -->\nSpecs are YAML files")
    assert "\nold\n" not in text and "middle\n" in text and text.endswith("tail\n")
    assert "$ edgectl validate --help" in text and "| `spec.budget.nodeHours` |" in text
    assert update_readme(readme) is False  # idempotent
    with pytest.raises(ValueError, match="markers"):
        replace_section("no markers", "spec-reference", "x")
