"""The README's spec reference, generated from components/schemas/*.schema.json."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from components.spec.schema import KINDS, load_schema
from components.spec.yaml_source import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target, root), **{k: v for k, v in schema.items() if k != "$ref"}}


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, Mapping):
        return "`{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}`"
    return f"`{value}`"


def _range(schema: Mapping[str, Any]) -> str:
    low_open, high_open = "exclusiveMinimum" in schema, "exclusiveMaximum" in schema
    low = schema.get("exclusiveMinimum", schema.get("minimum"))
    high = schema.get("exclusiveMaximum", schema.get("maximum"))
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '≥'} {low}"
    if high is not None:
        return f" {'<' if high_open else '≤'} {high}"
    return ""


def _type(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(_code(v) for v in schema["enum"])
    if "const" in schema:
        return _code(schema["const"])
    kind: str = schema.get("type", "")
    text = {"object": "mapping", "array": "list", "integer": "integer"}.get(kind, kind)
    if kind == "array":
        items = schema.get("items", {})
        text = f"list of {_type(items)}"
        if "minItems" in schema:
            text += f", ≥{schema['minItems']}"
        if "maxItems" in schema:
            text += f", ≤{schema['maxItems']}"
        if schema.get("uniqueItems"):
            text += ", unique"
    text += _range(schema)
    if "maxLength" in schema:
        text += f", ≤{schema['maxLength']} characters"
    if "pattern" in schema:
        text += f", `{schema['pattern']}`"
    return text


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("|", "\\|")).strip()


def _rows(
    schema: Mapping[str, Any], root: Mapping[str, Any], prefix: str, required: bool
) -> Iterator[tuple[str, str, str, str]]:
    schema = _resolve(schema, root)
    default = _code(schema["default"]) if "default" in schema else ("required" if required else "")
    if prefix:
        yield prefix, _type(schema), default, schema.get("description", "")
    props = schema.get("properties", {})
    needed = set(schema.get("required", []))
    for name, sub in props.items():
        path = f"{prefix}.{name}" if prefix else name
        yield from _rows(sub, root, path, name in needed)
    items = _resolve(schema.get("items", {}), root)
    if items.get("type") == "object":  # a list of mappings: its items' fields as `field[]`
        for name, sub in items.get("properties", {}).items():
            yield from _rows(sub, root, f"{prefix}[].{name}", name in items.get("required", ()))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        names = schema.get("propertyNames", {})
        placeholder = "<label>" if names.get("$ref") == "#/$defs/label" else "<key>"
        yield from _rows(extra, root, f"{prefix}.{placeholder}", False)


SCHEMAS = "components/schemas"  # where the schemas are, from the README


def kind_reference(kind: str) -> str:
    """Markdown for one kind: its description and a table of every field."""
    root = load_schema(kind)
    lines = [
        f"### {kind}",
        "",
        root["description"],
        f"Schema: [`{SCHEMAS}/{kind.lower()}.schema.json`]({SCHEMAS}/{kind.lower()}.schema.json).",
        "",
        "| Field | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for path, type_, default, description in _rows(root["properties"]["spec"], root, "spec", True):
        lines.append(f"| `{path}` | {_cell(type_)} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(lines)


def spec_reference() -> str:
    """The whole spec-reference section of README.md."""
    intro = """\
Specs are YAML files `specs/*.yaml` (not recursive), several documents per file separated
by `---`. Every document has the same envelope:

```yaml
apiVersion: edge-labeler/v1        # the only version
kind: Bucket                       # Bucket | Dataset | Model | Publication | Rollout
metadata:
  name: ml-data                    # [a-z][a-z0-9-]{0,62}, unique per kind
spec: {}                           # the fields below
```

Unknown fields are errors (with a did-you-mean suggestion), references (`bucket`,
`dataset`, `model`, `publication`) must name a document of that kind, `baseModel.model`
must not form a cycle, and local paths are relative to the directory of the YAML file they
are written in.
Every error is reported as `file:line:column: Kind 'name' field: message`.

**Overlays.** `specs/envs/<stack>.yaml` holds documents with `apiVersion`, `kind`,
`metadata.name` and a partial `spec`. Before validation, each is applied to the base
document of the same kind and name as a JSON merge patch (RFC 7396): mappings merge key by
key, lists and values replace, `null` deletes a field. An overlay for a document that does
not exist is an error; a stack without an overlay file uses the base specs unchanged.
`promoted: {from: <stack>, fingerprint: sha256:…}` on a Model (written by `edgectl promote`)
means that stack copies the gated artifact instead of training."""
    limits = (
        "**Paths and limits.** A local path (`zip`, `directory`, `images`, `labels`,\n"
        "`baseModel.path`), once `..` and symlinks are resolved, must stay inside the project\n"
        "root: the nearest directory above the specs holding `Pulumi.yaml` or `.git`, else the\n"
        "spec directory's parent. Providers (and so Pulumi state) receive it relative to the\n"
        "Pulumi project, never as an absolute path. A spec, overlay or `Pulumi.<stack>.yaml`\n"
        f"file holds at most {MAX_FILE_BYTES // 2**20} MiB and {MAX_NODES:,} YAML nodes, nested at "
        f"most {MAX_DEPTH} levels;\nits aliases may add at most {MAX_ALIAS_NODES:,} nodes in all "
        "(they are for small shared blocks)."
    )
    return "\n\n".join([intro, limits, *(kind_reference(kind) for kind in KINDS)])


def replace_section(text: str, marker: str, content: str) -> str:
    """`text` with the lines between `<!-- marker:start -->` and `<!-- marker:end -->` replaced."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    before, found, rest = text.partition(start)
    if not found or end not in rest:
        raise ValueError(f"README markers {start} … {end} not found")
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{content.strip()}\n{end}{after}"
