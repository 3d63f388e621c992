"""The promotion pin in an overlay, written with comments and formatting preserved.

`with_pin(text, stack, model, from_stack, fingerprint)` returns the overlay's new text:
the Model document (matched by kind + metadata.name) gets or updates
`promoted: {from: <stack>, fingerprint: "sha256:…"}` in its `spec`, with a comment line
above it the first time; a missing document is appended (a missing file is created with a
header). The file is edited with ruamel.yaml's round-trip mode, which keeps comments, key
order, flow style and quoting; every other line stays as it was, so the pull request of a
promotion is the pin and nothing else.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from components.spec.round_trip import document_of, round_trip_yaml
from components.spec.schema import API_VERSION


class PinError(ValueError):
    """The overlay cannot be edited (not YAML, or not overlay documents)."""


def _pin(from_stack: str, fingerprint: str) -> CommentedMap:
    pin = CommentedMap()
    pin["from"] = from_stack
    pin["fingerprint"] = DoubleQuotedScalarString(fingerprint)
    pin.fa.set_flow_style()
    return pin


# Above the pin; it stays when a later promotion changes the pin's values.
COMMENT = "Pinned by `edgectl promote`: gated on the `from` stack, copied by digest, not retrained."


def _new_document(model: str, from_stack: str, fingerprint: str) -> str:
    return (
        f"apiVersion: {API_VERSION}\n"
        "kind: Model\n"
        "metadata:\n"
        f"  name: {model}\n"
        "spec:\n"
        f"  # {COMMENT}\n"
        f'  promoted: {{from: {from_stack}, fingerprint: "{fingerprint}"}}\n'
    )


def with_pin(text: str | None, stack: str, model: str, from_stack: str, fingerprint: str) -> str:
    """The overlay text of `stack` with Model `model` pinned to `fingerprint` from `from_stack`."""
    if text is None or not text.strip():
        header = f"# Stack `{stack}`: JSON merge patches by kind + metadata.name.\n\n"
        return (text or header) + _new_document(model, from_stack, fingerprint)
    yaml = round_trip_yaml()
    try:
        documents = list(yaml.load_all(text))
    except YAMLError as err:
        raise PinError(f"not valid YAML: {err}") from None
    target = _model_document(documents, model)
    if target is None:
        # Appended as text: every existing byte stays where it is.
        separator = "" if text.endswith("\n") else "\n"
        return text + separator + "---\n" + _new_document(model, from_stack, fingerprint)
    spec = target.get("spec")
    if spec is None:
        spec = target["spec"] = CommentedMap()
    if not isinstance(spec, dict):
        raise PinError(f"Model '{model}': spec is not a mapping")
    if isinstance(spec.get("promoted"), dict):
        spec["promoted"]["from"] = from_stack
        spec["promoted"]["fingerprint"] = DoubleQuotedScalarString(fingerprint)
    else:
        spec["promoted"] = _pin(from_stack, fingerprint)
        if isinstance(spec, CommentedMap) and not spec.fa.flow_style():
            spec.yaml_set_comment_before_after_key("promoted", before=COMMENT, indent=2)
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def _model_document(documents: list[Any], model: str) -> Any:
    """The overlay document patching Model `model`, or None."""
    return document_of(documents, "Model", model)


def pinned(text: str, model: str) -> dict[str, str] | None:
    """The current pin of Model `model` in overlay text, or None."""
    doc = _model_document(list(round_trip_yaml().load_all(text)), model)
    promoted = (doc.get("spec") or {}).get("promoted") if doc is not None else None
    return dict(promoted) if isinstance(promoted, dict) else None
