"""Overlays: `specs/envs/<stack>.yaml` merge-patches the `spec` of base documents.

Each overlay document names the document it patches by kind and metadata.name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.spec.entry import ENVELOPE, Entry, doc_context
from components.spec.errors import Location
from components.spec.issue_log import IssueLog
from components.spec.merge_patch import apply_located_patch
from components.spec.rules import listed
from components.spec.schema import API_VERSION, KINDS, did_you_mean, show
from components.spec.spec_files import SpecReader
from components.spec.stack import STACK_NAME
from components.spec.yaml_source import YamlDocument

OVERLAY_DIR = "envs"
_NAME = ("metadata", "name")
# A document's issues are labelled with its kind and name, where known.
_Context = dict[str, str | None]


def overlay_path(directory: Path, stack: str) -> Path:
    """specs/envs/<stack>.yaml."""
    return Path(directory) / OVERLAY_DIR / f"{stack}.yaml"


def overlay_stacks(directory: Path) -> tuple[str, ...]:
    """Stacks that have an overlay file in <directory>/envs/, sorted."""
    envs = Path(directory) / OVERLAY_DIR
    if not envs.is_dir():
        return ()
    return tuple(sorted(p.stem for p in envs.glob("*.yaml") if p.is_file()))


def apply_overlay(
    directory: Path, stack: str, entries: Sequence[Entry], reader: SpecReader, log: IssueLog
) -> str | None:
    """Patch `entries` with the stack's overlay; returns the overlay file as issues show it.

    None when there is no overlay to apply (an invalid stack name, or no file).
    """
    path = overlay_path(directory, stack)
    if not STACK_NAME.match(stack):
        log.error(
            Location(str(path)), f"{stack!r} is not a stack name (letters, digits, '_', '.', '-')"
        )
        return None
    if not path.is_file():
        known = ", ".join(overlay_stacks(directory)) or "none"
        log.warn(
            Location(str(path)),
            f"no overlay for stack '{stack}': the base specs apply unchanged "
            f"(overlays exist for: {known})",
        )
        return None
    documents = reader.read(path).documents
    targets = _Targets(
        {(e.kind, e.name): e for e in entries if e.valid and e.name is not None},
        directory,
        complete=not reader.parse_failed,
    )
    for doc in documents:
        _apply_document(doc, targets, log)
    return str(path)


def _apply_document(doc: YamlDocument, targets: _Targets, log: IssueLog) -> None:
    """Patch the base document one overlay document names (if it names one, once)."""
    address = _address(doc, log)
    if address is None:
        return
    target = targets.find(doc, *address, log)
    if target is None:
        return
    target.overlaid_at = doc.value_location(_NAME)
    target.doc = apply_located_patch(target.doc, doc, ("spec",))


# -- the overlay document's own fields ---------------------------------------------------
def _address(doc: YamlDocument, log: IssueLog) -> tuple[str, str] | None:
    """The kind and name the overlay document patches, or None (with issues).

    None when its envelope does not say which document, or holds no patch.
    """
    data = doc.data
    if not isinstance(data, dict):
        log.error(
            doc.start,
            "an overlay document must be a mapping with apiVersion, kind, "
            f"metadata.name and spec; got {show(data)}",
        )
        return None
    context = doc_context(doc)
    _check_fields(doc, data, context, log)
    kind = _kind(doc, data, context, log)
    if kind is None:
        return None
    name = _name(doc, data, context, log)
    if name is None or not _has_patch(doc, data, context, log):
        return None
    return kind, name


def _check_fields(
    doc: YamlDocument, data: Mapping[str, Any], context: _Context, log: IssueLog
) -> None:
    """Only envelope fields, and the one apiVersion."""
    for key in data:
        if key not in ENVELOPE:
            log.error(
                doc.key_location((key,)),
                f"unknown field{did_you_mean(key, ENVELOPE)}; an overlay document has "
                "apiVersion, kind, metadata.name and spec",
                (key,),
                **context,
            )
    if data.get("apiVersion") == API_VERSION:
        return
    if "apiVersion" in data:
        log.error(
            doc.value_location(("apiVersion",)),
            f"{show(data['apiVersion'])} is not supported; the only accepted value "
            f"is '{API_VERSION}'",
            ("apiVersion",),
            **context,
        )
    else:
        log.error(doc.start, "required field is missing", ("apiVersion",), **context)


def _kind(
    doc: YamlDocument, data: Mapping[str, Any], context: _Context, log: IssueLog
) -> str | None:
    kind = data.get("kind")
    if isinstance(kind, str) and kind in KINDS:
        return kind
    where = doc.value_location(("kind",)) if "kind" in data else doc.start
    text = "required field is missing" if "kind" not in data else f"{show(kind)} is not a kind"
    log.error(
        where,
        f"{text}; kinds are {', '.join(KINDS)}{did_you_mean(kind, KINDS)}",
        ("kind",),
        **context,
    )
    return None


def _name(
    doc: YamlDocument, data: Mapping[str, Any], context: _Context, log: IssueLog
) -> str | None:
    """metadata.name, the only field metadata may hold."""
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(metadata, dict) or not isinstance(name, str):
        where = doc.value_location(("metadata",)) if "metadata" in data else doc.start
        log.error(
            where,
            "the overlay must name the document it patches (metadata.name)",
            _NAME,
            **context,
        )
        return None
    for key in metadata:
        if key != "name":
            log.error(
                doc.key_location(("metadata", key)),
                f"unknown field{did_you_mean(key, ['name'])}; allowed here: name",
                ("metadata", key),
                **context,
            )
    return name


def _has_patch(
    doc: YamlDocument, data: Mapping[str, Any], context: _Context, log: IssueLog
) -> bool:
    """`spec` is there and a mapping: the JSON merge patch of the base document's spec."""
    if "spec" not in data:
        log.error(
            doc.start,
            "required field is missing (the fields to change, as a JSON merge patch)",
            ("spec",),
            **context,
        )
        return False
    if not isinstance(data["spec"], dict):
        log.error(
            doc.value_location(("spec",)),
            f"expected a mapping of the fields to change (JSON merge patch), got "
            f"{show(data['spec'])}",
            ("spec",),
            **context,
        )
        return False
    return True


# -- the base document it patches ------------------------------------------------------
@dataclass(frozen=True)
class _Targets:
    """The base documents an overlay may patch: valid ones, by kind and name."""

    by_address: dict[tuple[str, str], Entry]
    directory: Path
    # Every file parsed: a name that matches nothing is then the overlay's mistake, not a
    # document lost to a syntax error.
    complete: bool

    def find(self, doc: YamlDocument, kind: str, name: str, log: IssueLog) -> Entry | None:
        """The document `doc` patches; None (with an issue) if none, or patched already."""
        target = self.by_address.get((kind, name))
        if target is None:
            if self.complete:
                names = sorted(n for k, n in self.by_address if k == kind)
                log.error(
                    doc.value_location(_NAME),
                    f"overlay matches no {kind} named {name!r} in {self.directory}"
                    f"{did_you_mean(name, names)}; {listed(kind, names)}",
                    _NAME,
                    **doc_context(doc),
                )
            return None
        if target.overlaid_at is not None:
            log.error(
                doc.value_location(_NAME),
                f"second overlay for this document (first at line {target.overlaid_at.line}); "
                "merge them into one",
                _NAME,
                **doc_context(doc),
            )
            return None
        return target
