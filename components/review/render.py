"""A Review as a pull-request comment (Markdown) or as JSON (schemas/review.schema.json in
components/)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.review.changes import DocumentChange, FieldChange, ResourceChange
from components.review.data import DataChange
from components.review.plan import Computed
from components.review.rollouts import RolloutChange
from components.review.stack_review import Review, StackReview

SCHEMA_VERSION = 1
MAX_SUMMARY_FIELDS = 3
ICONS = {
    "added": "➕",
    "retrains": "🔁",
    "replaced": "♻️",
    "updated": "✏️",
    "deleted": "🗑️",
    "unchanged": "·",
}


# -- JSON ---------------------------------------------------------------------------------------
def _value(value: Any) -> Any:
    if isinstance(value, Computed):
        return {"computed": value.of}
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value


def _field(change: FieldChange, effect: bool = False) -> dict[str, Any]:
    out = {"field": change.field, "old": _value(change.old), "new": _value(change.new)}
    if effect:
        out["effect"] = change.effect
        out["via"] = change.via
    return out


def _resource(r: ResourceChange) -> dict[str, Any]:
    return {
        "type": r.type,
        "name": r.name,
        "action": r.action,
        "retained": r.retained,
        "protected": r.protected,
        "fields": [_field(f, effect=True) for f in r.fields],
    }


def _change(c: DocumentChange) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "name": c.name,
        "action": c.action,
        "fields": [_field(f) for f in c.fields],
        "resources": [_resource(r) for r in c.resources],
        "cost": None
        if c.cost is None
        else {
            "nodeHours": c.cost.node_hours,
            "perNodeHourUsd": c.cost.price.per_node_hour,
            "usd": c.cost.usd,
            "priceSource": c.cost.price.source,
        },
        "acceptance": [
            {"field": a.field, "old": a.old, "new": a.new, "loosened": a.loosened, "note": a.note}
            for a in c.acceptance
        ],
        "loosened": c.loosened,
        "reachesProdPublication": c.reaches_prod_publication,
        "notes": list(c.notes),
        "rollout": [_rollout(r) for r in c.rollout],
        "data": None if c.data is None else _data(c.data),
        "alerts": list(c.alerts),
    }


def _rollout(r: RolloutChange) -> dict[str, Any]:
    return {
        "condition": r.condition,
        "percent": {"old": r.old_percent, "new": r.new_percent},
        "serves": {"old": r.old_serves, "new": r.new_serves},
        "rules": {"old": r.old_rules, "new": r.new_rules},
        "text": r.text(),
    }


def _data(d: DataChange) -> dict[str, Any]:
    return {
        "images": {"old": d.images[0], "new": d.images[1]},
        "added": d.added,
        "removed": d.removed,
        "relabelled": d.relabelled,
        "moved": d.moved,
        "labels": [
            {
                "label": c.label,
                "added": c.added,
                "removed": c.removed,
                "relabelledIn": c.relabelled_in,
                "relabelledOut": c.relabelled_out,
                "net": c.net,
                "splits": {k: {"old": a, "new": b} for k, (a, b) in c.splits.items()},
            }
            for c in d.labels
        ],
        "summary": d.summary(),
    }


def _stack(s: StackReview) -> dict[str, Any]:
    return {
        "stack": s.stack,
        "prod": s.prod,
        "emulator": s.emulator,
        "price": None
        if s.price is None
        else {"perNodeHourUsd": s.price.per_node_hour, "source": s.price.source},
        "errors": [issue.to_json() for issue in s.errors],
        "notes": list(s.notes),
        "retrains": len(s.retrains),
        "costUsd": s.cost_usd,
        "changes": [_change(c) for c in s.changes],
    }


def to_json(review: Review) -> dict[str, Any]:
    """The documented JSON form (components/schemas/review.schema.json)."""
    stacks = review.stacks
    return {
        "schemaVersion": SCHEMA_VERSION,
        "base": {"rev": review.base.rev, "commit": review.base.commit, "label": review.base.label},
        "head": {"rev": review.head.rev, "commit": review.head.commit, "label": review.head.label},
        "valid": review.valid,
        "summary": {
            "stacks": len(stacks),
            "changes": sum(len(s.changes) for s in stacks),
            "retrains": sum(len(s.retrains) for s in stacks),
            "costUsd": round(sum(s.cost_usd for s in stacks), 2),
            "loosened": sum(c.loosened for s in stacks for c in s.changes),
            "prodPublications": sum(c.reaches_prod_publication for s in stacks for c in s.changes),
            "alerts": sum(len(c.alerts) for s in stacks for c in s.changes),
            "errors": sum(len(s.errors) for s in stacks),
        },
        "stacks": [_stack(s) for s in stacks],
    }


def render_json(review: Review) -> str:
    return json.dumps(to_json(review), indent=2, sort_keys=False)


# -- Markdown -------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    """A value for a Markdown table or list: short, in backticks."""
    if value is None:
        return "—"
    if isinstance(value, Computed):
        return "_(known after deploy)_"
    if isinstance(value, str) and value.startswith("sha256:") and len(value) > 23:
        value = value[:19] + "…"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(_value(value), separators=(", ", ": "), default=str)
    if len(text) > 80:
        text = text[:77] + "…"
    text = text.replace("`", "'")
    return f"`{text}`"


def _arrow(change: FieldChange) -> str:
    if isinstance(change.old, Computed) and isinstance(change.new, Computed):
        return f"`{change.field}` → {_show(change.new)}"
    return f"`{change.field}` {_show(change.old)} → {_show(change.new)}"


def _driving(change: FieldChange) -> str:
    via = f" via {change.via}" if change.via else ""
    return f"{_arrow(change)} ({change.effect}{via})"


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def _what(c: DocumentChange) -> str:
    parts: list[str] = []
    if c.action in ("added", "deleted"):
        parts.append(c.action)
    elif c.data is not None:
        parts.append(f"images: {c.data.summary()}")
    elif c.rollout:
        shown = [r.text() for r in c.rollout[:MAX_SUMMARY_FIELDS]]
        if len(c.rollout) > MAX_SUMMARY_FIELDS:
            shown.append(f"+{len(c.rollout) - MAX_SUMMARY_FIELDS} more")
        parts.append("; ".join(shown))
    else:
        shown = [_arrow(f) for f in c.fields[:MAX_SUMMARY_FIELDS]]
        if len(c.fields) > MAX_SUMMARY_FIELDS:
            shown.append(f"+{len(c.fields) - MAX_SUMMARY_FIELDS} more")
        parts.append(", ".join(shown) or _upstream(c))
    if c.loosened:
        parts.append("⚠️ **acceptance loosened**")
    if c.alerts:
        parts.append(f"{_alarm(c)} **{len(c.alerts)} alert(s)**, see below")
    return "; ".join(parts)


def _alarm(c: DocumentChange) -> str:
    """🚨 where the change reaches prod apps, ⚠️ elsewhere."""
    return "🚨" if c.reaches_prod_publication else "⚠️"


def _upstream(c: DocumentChange) -> str:
    """What changes a document whose own spec did not change."""
    fields = sorted(
        {f.field.split(".")[0] for r in c.resources for f in r.fields if f.effect != "none"}
    )
    if c.kind == "Dataset" and "fingerprint" in fields:
        return "the images (content fingerprint)"
    return "from upstream: " + ", ".join(f"`{f}`" for f in fields)


def _stack_title(s: StackReview) -> str:
    title = f"**{s.stack}**"
    if s.prod:
        title += " (prod)"
    return title


def _summary_rows(review: Review) -> list[str]:
    rows = [
        "| stack | document | change | what changes | est. training cost |",
        "|---|---|---|---|---|",
    ]
    for s in review.stacks:
        if s.errors:
            rows.append(
                f"| {_stack_title(s)} | — | ❌ invalid | {len(s.errors)} error(s), see below | |"
            )
        for c in s.changes:
            if c.action == "unchanged":
                continue
            action = f"{ICONS.get(c.action, '')} {c.action}"
            if c.action == "retrains":
                action = f"{ICONS['retrains']} **retrains**"
            document = f"{c.kind} `{c.name}`"
            if c.reaches_prod_publication:
                document = f"🚨 {document} — **reaches a prod publication**"
            elif c.alerts:
                document = f"⚠️ {document}"
            cost = ""
            if c.cost is not None:
                cost = f"≤ {_money(c.cost.usd)}"
            rows.append(f"| {_stack_title(s)} | {document} | {action} | {_what(c)} | {cost} |")
    return rows


def _stack_summary(s: StackReview) -> str:
    if s.errors:
        return f"❌ {len(s.errors)} error(s): the head revision does not validate"
    counts: dict[str, int] = {}
    for c in s.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    if not counts:
        return "no changes"
    text = ", ".join(f"{n}× {action}" for action, n in counts.items())
    if s.retrains:
        text += f" — est. training ≤ {_money(s.cost_usd)}"
    if any(c.reaches_prod_publication for c in s.changes):
        text += " — 🚨 reaches a prod publication"
    return text


def _document_details(c: DocumentChange) -> list[str]:
    heading = f"#### {ICONS.get(c.action, '')} {c.kind} `{c.name}` — {c.action}"
    if c.reaches_prod_publication:
        heading += " — 🚨 reaches a prod publication"
    lines = [heading, ""]
    lines += [f"- {_alarm(c)} **{alert}**" for alert in c.alerts]
    lines += [f"- Remote Config: {r.text()}" for r in c.rollout]
    if c.data is not None:
        lines += _data_lines(c.data)
    for a in c.acceptance:
        flag = "⚠️ **loosened**" if a.loosened else "tightened"
        lines.append(f"- acceptance {flag}: `{a.field}` {_show(a.old)} → {_show(a.new)} ({a.note})")
    if c.fields:
        lines.append("- spec (overlay applied):")
        lines += [f"  - {_arrow(f)}" for f in c.fields]
    if c.resources:
        lines.append("- resources:")
        for r in c.resources:
            head = f"  - `{r.type} {r.name}`: **{r.action}**"
            if r.action in ("create", "delete"):
                lines.append(head)
                continue
            driving = [f for f in r.fields if f.effect != "none"]
            lines.append(head + " — " + ", ".join(_driving(f) for f in driving))
    if c.cost is not None:
        lines.append(
            f"- 💰 estimated training cost: ≤ {c.cost.node_hours:g} node hours × "
            f"{_money(c.cost.price.per_node_hour)} = **{_money(c.cost.usd)}** (the budget: "
            "training may stop earlier and bill less; the price's source is below)"
        )
    lines += [f"- note: {n}" for n in c.notes]
    lines.append("")
    return lines


def _data_lines(d: DataChange) -> list[str]:
    """The images a dataset change adds, removes and relabels, per label and split."""
    old, new = d.images
    lines = [
        f"- images: {old:,} → {new:,} ({d.summary()}): {d.added} added, {d.removed} removed, "
        f"{d.relabelled} relabelled, {d.moved} moved between splits",
    ]
    if d.labels:
        lines += [
            "",
            "  | label | added | removed | relabelled (in / out) | TRAIN | VALIDATION | TEST |",
            "  |---|---|---|---|---|---|---|",
        ]
        for c in d.labels:
            splits = " | ".join(f"{a} → {b}" if a != b else f"{a}" for a, b in c.splits.values())
            relabelled = f"+{c.relabelled_in} / −{c.relabelled_out}"
            added = f"+{c.added}" if c.added else ""
            removed = f"−{c.removed}" if c.removed else ""
            lines.append(f"  | `{c.label}` | {added} | {removed} | {relabelled} | {splits} |")
        lines.append("")
    return lines


def render_markdown(review: Review) -> str:
    """A pull-request comment: a summary table, then one collapsible section per stack."""
    lines = [f"## edge-labeler review: {review.base.label} → {review.head.label}", ""]
    if not review.valid:
        errors = sum(len(s.errors) for s in review.stacks)
        lines += [
            f"> ❌ **The head revision does not validate** ({errors} error(s)): "
            "`pulumi up` would fail. Details per stack below.",
            "",
        ]
    changed = [c for s in review.stacks for c in s.changes if c.action != "unchanged"]
    if changed or not review.valid:
        lines += _summary_rows(review)
    else:
        lines.append("No resource changes on any stack.")
    lines.append("")
    retrain_stacks = [s for s in review.stacks if s.retrains]
    if retrain_stacks:
        costs = ", ".join(f"{s.stack} ≤ {_money(s.cost_usd)}" for s in retrain_stacks)
        lines += [
            f"**Estimated training cost** (budget node hours × price per node hour): {costs}.",
            "",
        ]
    for s in review.stacks:
        if not s.errors and not s.changes and not s.notes:
            lines += [f"{_stack_title(s)}: no changes.", ""]
            continue
        opened = (
            " open"
            if s.errors or any(c.reaches_prod_publication or c.alerts for c in s.changes)
            else ""
        )
        lines += [
            f"<details{opened}><summary><b>{s.stack}</b>{' (prod)' if s.prod else ''}: "
            f"{_stack_summary(s)}</summary>",
            "",
        ]
        if s.errors:
            lines += ["```text", *(i.render() for i in s.errors), "```", ""]
        for note in s.notes:
            lines += [f"_{note}_", ""]
        for c in s.changes:
            lines += _document_details(c)
        if s.price is not None and s.retrains:
            lines += [
                f"Price per node hour: {_money(s.price.per_node_hour)} ({s.price.source}).",
                "",
            ]
        lines += ["</details>", ""]
    return "\n".join(lines).rstrip() + "\n"
