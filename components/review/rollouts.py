"""What a change does to what apps are served: rollouts' percentages and publications, and the
changes that break apps.

- A Rollout's conditions are compared by name: the share of users each serves (old → new
  percent), the publication (display name) it serves, its rules; and its default.
- Alerts, per stack: a Rollout that serves a publication apps cannot download
  (`published: false`), or — on a prod stack — a model that is not gated for prod (no
  `promoted:` pin: production serves what passed the gate of the stack before it and was
  checked again against prod's acceptance); a Publication whose `displayName` changes, which
  breaks the apps that load the model by its old name.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.cloud.remote_config import rollout_condition_expression
from components.spec import Publication, Rollout, SpecSet


@dataclass(frozen=True)
class RolloutChange:
    """One condition of a Rollout (None: its default value), old → new."""

    condition: str | None
    old_percent: float | None
    new_percent: float | None
    old_serves: str | None  # the display name served; None when the condition is absent
    new_serves: str | None
    old_rules: str | None  # the condition's expression
    new_rules: str | None

    def text(self) -> str:
        old, new = f"`{self.old_serves}`", f"`{self.new_serves}`"
        if self.condition is None:
            return f"default: {old} → {new} (users no condition matches)"
        name = f"`{self.condition}`"
        if self.old_serves is None:
            return f"{name} added: {_whom(self.new_percent, self.new_rules)} get {new}"
        if self.new_serves is None:
            return f"{name} removed: {_whom(self.old_percent, self.old_rules)} no longer get {old}"
        parts = []
        if self.old_percent != self.new_percent:
            parts.append(f"{_percent(self.old_percent)} → {_percent(self.new_percent)} of users")
        if self.old_serves != self.new_serves:
            parts.append(f"serves `{self.old_serves}` → `{self.new_serves}`")
        elif parts:
            parts[-1] += f" get `{self.new_serves}`"
        if not parts:
            parts.append(f"rules `{self.old_rules}` → `{self.new_rules}`")
        return f"{name}: " + ", ".join(parts)


def _percent(value: float | None) -> str:
    return "all" if value is None else f"{value:g} %"


def _whom(percent: float | None, rules: str | None) -> str:
    if percent is not None:
        return f"{percent:g} % of users"
    return f"users matching `{rules}`"


def _display(specs: SpecSet | None, publication: str) -> str:
    found = specs.publications.get(publication) if specs is not None else None
    return found.display_name if found is not None else publication


def rollout_changes(
    old: Rollout | None, new: Rollout | None, base: SpecSet | None, head: SpecSet | None
) -> list[RolloutChange]:
    """Every difference in what a Rollout serves to whom (conditions compared by name)."""
    out: list[RolloutChange] = []
    old_default = _display(base, old.publication) if old else None
    new_default = _display(head, new.publication) if new else None
    if old and new and old_default != new_default:
        out.append(RolloutChange(None, None, None, old_default, new_default, None, None))
    before = {c.name: c for c in old.conditions} if old else {}
    after = {c.name: c for c in new.conditions} if new else {}
    for name in [*after, *(n for n in before if n not in after)]:
        a, b = before.get(name), after.get(name)
        change = RolloutChange(
            name,
            a.percent if a else None,
            b.percent if b else None,
            _display(base, a.publication) if a else None,
            _display(head, b.publication) if b else None,
            rollout_condition_expression(a) if a else None,
            rollout_condition_expression(b) if b else None,
        )
        if (change.old_serves, change.old_rules) != (change.new_serves, change.new_rules):
            out.append(change)
    return out


def _who(rollout: Rollout, publication: str) -> str:
    """Which users of a Rollout get a publication: by default, or by which conditions."""
    whom = ["by default"] if rollout.publication == publication else []
    whom += [
        f"to {_whom(c.percent, rollout_condition_expression(c))} (`{c.name}`)"
        for c in rollout.conditions
        if c.publication == publication
    ]
    return " and ".join(whom)


def rollout_alerts(rollout: Rollout, specs: SpecSet, stack: str, prod: bool) -> list[str]:
    """What in a Rollout on this stack serves apps a model they should not get."""
    alerts = []
    for name in rollout.publications:
        publication = specs.publications[name]
        model = specs.models[publication.model]
        serves = f"serves `{publication.display_name}` {_who(rollout, name)}"
        if not publication.published:
            alerts.append(
                f"{serves}, but Publication `{name}` is not published on stack '{stack}' "
                "(published: false): apps told to load it cannot download it"
            )
        if prod and model.promoted is None:
            alerts.append(
                f"{serves}, a model not gated for prod: Model `{model.name}` has no "
                f"`promoted:` pin on stack '{stack}', so it did not pass the gate of the stack "
                f"before prod (`edgectl promote --model {model.name} --from <stack> --to {stack}`)"
            )
    return alerts


def rename_alert(old: Publication, new: Publication, head: SpecSet | None) -> str | None:
    """A changed displayName: the apps that load the model by its old name break."""
    if old.display_name == new.display_name:
        return None
    text = (
        f"renames the model apps load: `{old.display_name}` → `{new.display_name}`; apps that "
        f"load it by the name `{old.display_name}` no longer get it (the model of the old name "
        f"is deleted from {old.target.value})"
    )
    following = sorted(
        r.name for r in (head.rollouts.values() if head else ()) if new.name in r.publications
    )
    if following:
        text += (
            "; apps that read the Remote Config parameter of Rollout "
            + ", ".join(f"`{r}`" for r in following)
            + " get the new name"
        )
    return text
