"""Two plans of a stack compared: what each spec document's change does in the cloud.

A resource is replaced when an input in its provider's `replace_on` changes, updated when
one in `update_on` changes (the providers' own sets; see plan.py). A Model whose
TrainedModel is created or replaced *retrains*, and its estimated cost is the budget in node
hours × the stack's price per node hour (prices.py). Acceptance changes are compared
criterion by criterion and loosening is flagged. Changes on a prod stack (`protect: true`,
or named `prod`) that reach a Publication are highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from components.review.data import DataChange, data_change
from components.review.plan import Computed, Declared, Plan
from components.review.prices import Price
from components.review.rollouts import (
    RolloutChange,
    rename_alert,
    rollout_alerts,
    rollout_changes,
)
from components.spec import Acceptance, Model, Publication, Rollout, SpecSet, thaw

ACTION_ORDER = ("added", "retrains", "replaced", "updated", "deleted", "unchanged")


@dataclass(frozen=True)
class FieldChange:
    """One changed value, old → new (None when absent)."""

    field: str
    old: Any
    new: Any
    effect: str = "none"  # replace | update | none (what it makes the provider do)
    via: str | None = None  # the computed input it changes that decides (`fingerprint`)


@dataclass(frozen=True)
class ResourceChange:
    type: str
    name: str
    action: str  # create | replace | update | delete
    fields: tuple[FieldChange, ...]
    retained: bool = False  # deleted from the program, but its cloud resource is kept
    protected: bool = False  # `protect`: pulumi refuses to delete or replace it


@dataclass(frozen=True)
class AcceptanceChange:
    field: str  # acceptance.minPrecision, acceptance.perLabel.eight.minRecall, ...
    old: Any
    new: Any
    loosened: bool
    note: str


@dataclass(frozen=True)
class Cost:
    node_hours: float  # the budget: training may stop earlier and bill less
    price: Price

    @property
    def usd(self) -> float:
        return round(self.node_hours * self.price.per_node_hour, 2)


@dataclass(frozen=True)
class DocumentChange:
    kind: str
    name: str
    action: str  # one of ACTION_ORDER
    fields: tuple[FieldChange, ...]  # the effective spec (overlay applied), old → new
    resources: tuple[ResourceChange, ...]
    cost: Cost | None = None
    acceptance: tuple[AcceptanceChange, ...] = ()
    reaches_prod_publication: bool = False
    notes: tuple[str, ...] = ()
    rollout: tuple[RolloutChange, ...] = ()  # what a Rollout serves to whom, old → new
    data: DataChange | None = None  # a Dataset's images, added / removed / relabelled
    alerts: tuple[str, ...] = ()  # what breaks apps or serves them an ungated model

    @property
    def loosened(self) -> bool:
        return any(a.loosened for a in self.acceptance)


# -- values -----------------------------------------------------------------------------------
def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted paths; lists, scalars and Computed values are leaves."""
    if isinstance(value, Mapping) and not isinstance(value, Computed):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out or ({prefix: {}} if prefix else {})
    return {prefix: value}


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Every leaf that differs between two nested mappings (absent = None)."""
    a, b = flatten(thaw(old)), flatten(thaw(new))
    return [
        FieldChange(key, a.get(key), b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


# -- resources --------------------------------------------------------------------------------
def _effect(declared: Declared, key: str) -> str:
    if key in declared.replace_on:
        return "replace"
    if key in declared.update_on:
        return "update"
    return "none"


def resource_change(old: Declared | None, new: Declared | None) -> ResourceChange | None:
    """What the engine would do with one resource; None when nothing changes."""
    some = new or old
    assert some is not None
    if old is None or new is None:
        inputs = (new or old).inputs  # type: ignore[union-attr]
        fields = tuple(
            FieldChange(c.field, c.new if new is None else None, c.new if old is None else None)
            for c in field_changes({}, inputs)
        )
        return ResourceChange(
            some.type,
            some.name,
            "create" if old is None else "delete",
            fields,
            retained=bool(new is None and inputs.get("retainOnDelete")),
        )
    changed: list[FieldChange] = []
    actions: set[str] = set()
    for key in sorted(set(old.inputs) | set(new.inputs)):
        before, after = old.inputs.get(key), new.inputs.get(key)
        if before == after:
            continue
        effect = _effect(new, key)
        actions.add(effect)
        nested = field_changes({key: before}, {key: after}) if _nested(before, after) else []
        changed += [FieldChange(c.field, c.old, c.new, effect) for c in nested] or [
            FieldChange(key, before, after, effect)
        ]
    # Inputs of what the provider's check computes (a fingerprint) replace through it.
    deciding = [
        k for k in new.derived if k in new.replace_on and old.inputs.get(k) != new.inputs.get(k)
    ]
    if deciding:
        changed = [
            replace(c, effect="replace", via=deciding[0])
            if c.effect == "none" and c.field.split(".")[0] not in new.derived
            else c
            for c in changed
        ]
    if "replace" in actions:
        action = "replace"
    elif "update" in actions:
        action = "update"
    else:
        return None
    return ResourceChange(new.type, new.name, action, tuple(changed))


def _nested(a: Any, b: Any) -> bool:
    return isinstance(a, Mapping) and isinstance(b, Mapping) and not isinstance(a, Computed)


# -- acceptance -------------------------------------------------------------------------------
def _threshold(acceptance: Acceptance) -> str:
    t = acceptance.threshold
    return f"{t.kind.value} {t.metric if t.value is None else f'{t.value:g}'}"


def _minimum(field: str, old: float | None, new: float | None) -> AcceptanceChange | None:
    if old == new:
        return None
    if new is None:
        return AcceptanceChange(field, old, new, True, "criterion removed")
    if old is None:
        return AcceptanceChange(field, old, new, False, "criterion added")
    lower = new < old
    return AcceptanceChange(field, old, new, lower, "lowered" if lower else "raised")


def acceptance_changes(old: Acceptance, new: Acceptance) -> list[AcceptanceChange]:
    """Every acceptance difference; loosened = a model that failed before may pass now."""
    out: list[AcceptanceChange] = []
    t_old, t_new = old.threshold, new.threshold
    if t_old != t_new:
        if t_old.kind == t_new.kind and t_new.kind.value == "precisionAtLeast":
            lower = (t_new.value or 0) < (t_old.value or 0)
            note = "required precision lowered" if lower else "required precision raised"
        else:
            lower, note = (
                True,
                "threshold policy changed: the operating point the gate checks moves",
            )
        out.append(
            AcceptanceChange("acceptance.threshold", _threshold(old), _threshold(new), lower, note)
        )
    for field, a, b in (
        ("minPrecision", old.min_precision, new.min_precision),
        ("minRecall", old.min_recall, new.min_recall),
        ("minAuPrc", old.min_au_prc, new.min_au_prc),
    ):
        if change := _minimum(f"acceptance.{field}", a, b):
            out.append(change)
    for label in sorted(set(old.per_label) | set(new.per_label)):
        a_min, b_min = old.per_label.get(label), new.per_label.get(label)
        for field, attr in (("minPrecision", "min_precision"), ("minRecall", "min_recall")):
            a = getattr(a_min, attr) if a_min else None
            b = getattr(b_min, attr) if b_min else None
            if change := _minimum(f"acceptance.perLabel.{label}.{field}", a, b):
                out.append(change)
    if old.no_worse_than != new.no_worse_than:
        removed = new.no_worse_than is None
        out.append(
            AcceptanceChange(
                "acceptance.noWorseThan",
                old.no_worse_than,
                new.no_worse_than,
                removed,
                "no longer compared with what the stack publishes"
                if removed
                else "compared with what the stack publishes",
            )
        )
    return out


# -- documents --------------------------------------------------------------------------------
def _document_action(kind: str, resources: list[ResourceChange], spec_changed: bool) -> str:
    actions = {r.action for r in resources}
    if actions == {"create"}:
        return "added"
    if actions == {"delete"}:
        return "deleted"
    if kind == "Model" and any(
        r.type == "TrainedModel" and r.action in ("create", "replace") for r in resources
    ):
        return "retrains"
    if "replace" in actions or {"create", "delete"} <= actions:
        return "replaced"  # (a Model swapping training for a promotion: delete + create)
    if actions:
        return "updated"
    return "unchanged" if spec_changed else ""


def _documents(plan: Plan) -> dict[tuple[str, str], Any]:
    specs = plan.specs
    return {} if specs is None else {doc.key: doc for doc in specs.documents()}


def _publications_of(specs: SpecSet | None, doc_key: tuple[str, str]) -> set[str]:
    """Publications a document's change can reach (its model's, its dataset's models')."""
    if specs is None:
        return set()
    kind, name = doc_key
    if kind == "Publication":
        return {name}
    if kind == "Model":
        models = {name}
    elif kind == "Dataset":
        models = {m.name for m in specs.models.values() if m.dataset == name}
    elif kind == "Bucket":
        datasets = {d.name for d in specs.datasets.values() if d.bucket == name}
        models = {m.name for m in specs.models.values() if m.dataset in datasets}
    else:
        models = set()
    return {p.name for p in specs.publications.values() if p.model in models}


def compare(base: Plan, head: Plan, price: Price, prod: bool) -> list[DocumentChange]:
    """Every document whose change does something on this stack, in dependency order."""
    # Long: one pass over the documents gathering what each change row shows (resources,
    # fields, cost, acceptance, notes, serving, data) from the same old/new documents.
    by_doc: dict[tuple[str, str], list[ResourceChange]] = {}
    keys = list(base.resources) + [k for k in head.resources if k not in base.resources]
    for key in keys:
        old, new = base.resources.get(key), head.resources.get(key)
        doc = (new or old).document  # type: ignore[union-attr]
        by_doc.setdefault(doc, [])
        change = resource_change(old, new)
        if change is not None:
            if prod and change.type == "Publication" and change.action in ("delete", "replace"):
                change = replace(change, protected=True)
            by_doc[doc].append(change)
    old_docs, new_docs = _documents(base), _documents(head)
    changed_publications = {
        doc[1] for doc, changes in by_doc.items() if doc[0] == "Publication" and changes
    }
    out: list[DocumentChange] = []
    order = [k for k in new_docs] + [k for k in old_docs if k not in new_docs]
    for doc_key in order + [k for k in by_doc if k not in order]:
        old_doc, new_doc = old_docs.get(doc_key), new_docs.get(doc_key)
        resources = by_doc.get(doc_key, [])
        spec_fields = field_changes(
            old_doc.spec if old_doc else {}, new_doc.spec if new_doc else {}
        )
        action = _document_action(doc_key[0], resources, bool(spec_fields))
        if not action:
            continue
        cost = None
        notes: list[str] = []
        trained = next(
            (
                r
                for r in resources
                if r.type == "TrainedModel" and r.action in ("create", "replace")
            ),
            None,
        )
        if trained is not None and isinstance(new_doc, Model):
            cost = Cost(new_doc.budget.node_hours, price)
        acceptance: list[AcceptanceChange] = []
        if isinstance(old_doc, Model) and isinstance(new_doc, Model):
            acceptance = acceptance_changes(old_doc.acceptance, new_doc.acceptance)
        notes += _notes(old_doc, new_doc, resources)
        reached = _publications_of(head.specs, doc_key) | _publications_of(base.specs, doc_key)
        reaches = prod and bool(reached & changed_publications)
        serving = _serving(base, head, old_doc, new_doc, prod)
        if doc_key[0] == "Rollout" and resources:  # what prod apps are told to download
            reaches = reaches or prod
        out.append(
            DocumentChange(
                kind=str(doc_key[0]),
                name=doc_key[1],
                action=action,
                fields=tuple(spec_fields),
                resources=tuple(resources),
                cost=cost,
                acceptance=tuple(acceptance),
                reaches_prod_publication=reaches and action != "unchanged",
                notes=tuple(notes),
                rollout=serving[0],
                data=_data(base, head, doc_key) if doc_key[0] == "Dataset" else None,
                alerts=serving[1],
            )
        )
    return out


def _serving(
    base: Plan, head: Plan, old_doc: Any, new_doc: Any, prod: bool
) -> tuple[tuple[RolloutChange, ...], tuple[str, ...]]:
    """A Rollout's changes and alerts, or a Publication's rename alert."""
    if isinstance(old_doc, Publication) and isinstance(new_doc, Publication):
        renamed = rename_alert(old_doc, new_doc, head.specs)
        return (), (renamed,) if renamed else ()
    if not isinstance(old_doc or new_doc, Rollout):
        return (), ()
    changes = rollout_changes(old_doc, new_doc, base.specs, head.specs)
    alerts: list[str] = []
    if isinstance(new_doc, Rollout) and head.specs is not None:
        alerts = rollout_alerts(new_doc, head.specs, head.stack, prod)
    return tuple(changes), tuple(alerts)


def _data(base: Plan, head: Plan, doc_key: tuple[str, str]) -> DataChange | None:
    """The images a Dataset's content change adds, removes and relabels (None when its
    content did not change, or a manifest cannot be read: a gs:// index, failing data)."""

    def declared(plan: Plan) -> Declared | None:
        return next(
            (d for d in plan.resources.values() if d.type == "Dataset" and d.document == doc_key),
            None,
        )

    old, new = declared(base), declared(head)
    if old is None or new is None or old.manifest is None or new.manifest is None:
        return None
    if old.inputs.get("fingerprint") == new.inputs.get("fingerprint"):
        return None
    before, after = old.manifest(), new.manifest()
    return data_change(before, after) if before and after else None


def _notes(old_doc: Any, new_doc: Any, resources: list[ResourceChange]) -> list[str]:
    notes: list[str] = []
    old_pin = old_doc.promoted if isinstance(old_doc, Model) else None
    if isinstance(new_doc, Model) and new_doc.promoted is not None and old_pin != new_doc.promoted:
        notes.append(
            f"promoted from stack '{new_doc.promoted.from_stack}' "
            f"({new_doc.promoted.fingerprint[:19]}…): its gated artifact is copied and its "
            "sha256 verified; nothing is trained on this stack"
        )
    if old_pin is not None and isinstance(new_doc, Model) and new_doc.promoted is None:
        notes.append(f"no longer promoted from '{old_pin.from_stack}': trains here")
    for r in resources:
        if r.action == "delete" and r.retained:
            notes.append(f"{r.type} {r.name}: retainOnDelete — the cloud resource is kept")
        if r.protected:
            notes.append(
                f"{r.type} {r.name} is protected on this stack: `pulumi up` refuses to "
                f"{'delete' if r.action == 'delete' else 'replace'} it until it is "
                "unprotected (`pulumi state unprotect`)"
            )
    if isinstance(old_doc, Publication) and new_doc is None and old_doc.published:
        notes.append(f"apps stop receiving '{old_doc.display_name}' ({old_doc.target.value})")
    data = next(
        (
            c
            for r in resources
            if r.type == "Dataset"
            for c in r.fields
            if c.field == "fingerprint" and r.action == "replace"
        ),
        None,
    )
    if data is not None:
        notes.append("the images changed (content fingerprint): a new import")
    return notes
