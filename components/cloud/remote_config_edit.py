"""One owner's parameter and conditions in a Remote Config template, edited without touching
anything else: what a Rollout reconciles.

A template is shared: people edit it in the Firebase console, A/B Testing adds its values,
other tools publish theirs. An `OwnedParameter` is one parameter key, its default value, the
conditions it defines (each with the value it serves) and its group. `apply_owned` returns the
template with that parameter as wanted and every other parameter, group and condition as it was
read; `remove_owned` takes it out again. `publish_edit` reads, edits, validates
(`validateOnly`) and publishes with the ETag it read; when someone published in between (412)
it reads the new template and edits that instead — a concurrent change is never overwritten.

Conditions are a list, and their order is their priority: a user gets the value of the first
true condition, in the template's order, among those a parameter names. So the owner's
conditions keep the relative order it asks for, and are otherwise left where they are: one it
adds goes next to its neighbours in the wanted order (after every condition when it has none
yet, where it changes nobody else's values); only when the wanted order contradicts the
template's are the owner's conditions moved, together, to where the first of them was. A
condition of the same name that another parameter uses, with another expression, is not taken
over (`TemplateConflict`); one the owner no longer wants is removed unless another parameter
uses it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from components.cloud.errors import CloudError
from components.cloud.remote_config import (
    Condition,
    EtagMismatch,
    Parameter,
    ParameterGroup,
    ParameterValue,
    RemoteConfigClient,
    Template,
)

MAX_ATTEMPTS = 5  # concurrent publishes in a row before giving up


class TemplateConflict(CloudError):
    """The edit would change what someone else's parameter serves; nothing was published."""


@dataclass(frozen=True)
class ServedCondition:
    """A condition of the owner's parameter, and the value it serves."""

    name: str
    expression: str
    value: str


@dataclass(frozen=True)
class OwnedParameter:
    """A parameter as its owner wants it (or as it is live)."""

    key: str
    value: str  # the default value
    conditions: tuple[ServedCondition, ...] = ()  # in priority order
    description: str = ""
    group: str | None = None  # a parameter group, or None: ungrouped

    def parameter(self) -> Parameter:
        return Parameter(
            default_value=ParameterValue(self.value),
            conditional_values={c.name: ParameterValue(c.value) for c in self.conditions},
            description=self.description,
            value_type="STRING",
        )


def _containers(template: Template) -> dict[str | None, Mapping[str, Parameter]]:
    """The template's parameters by group (None: the ungrouped ones)."""
    out: dict[str | None, Mapping[str, Parameter]] = {None: template.parameters}
    out.update({name: g.parameters for name, g in template.parameter_groups.items()})
    return out


def find(template: Template, key: str) -> tuple[str | None, Parameter] | None:
    """(group, parameter) of a key, or None when the template has no such parameter."""
    for group, parameters in _containers(template).items():
        if key in parameters:
            return group, parameters[key]
    return None


def users(template: Template, condition: str) -> set[str]:
    """The keys of the parameters that give a value for a condition."""
    return {
        key
        for parameters in _containers(template).values()
        for key, parameter in parameters.items()
        if condition in parameter.conditional_values
    }


def read_owned(template: Template, key: str) -> OwnedParameter | None:
    """The parameter as it is live (conditions in the template's order), or None."""
    found = find(template, key)
    if found is None:
        return None
    group, parameter = found
    expressions = {c.name: c.expression for c in template.conditions}
    order = [c.name for c in template.conditions]
    named = sorted(
        parameter.conditional_values,
        key=lambda n: order.index(n) if n in order else len(order),
    )
    default = parameter.default_value
    return OwnedParameter(
        key=key,
        value=(default.value or "") if default is not None else "",
        conditions=tuple(
            ServedCondition(n, expressions.get(n, ""), parameter.conditional_values[n].value or "")
            for n in named
        ),
        description=parameter.description,
        group=group,
    )


def _place(existing: list[Condition], wanted: list[Condition]) -> list[Condition]:
    """`existing` (the owner's conditions in it already updated) with `wanted` in its order."""
    names = [c.name for c in wanted]
    present = [c.name for c in existing if c.name in names]
    if present != [n for n in names if n in present]:  # the order contradicts: move them
        first = next(i for i, c in enumerate(existing) if c.name in names)
        rest = [c for c in existing if c.name not in names]
        before = sum(1 for c in existing[:first] if c.name not in names)
        return rest[:before] + wanted + rest[before:]
    out = list(existing)
    for i, condition in enumerate(wanted):
        if condition.name in present:
            continue
        at = [c.name for c in out]
        following = next((n for n in names[i + 1 :] if n in at), None)
        preceding = next((n for n in reversed(names[:i]) if n in at), None)
        if following is not None:
            out.insert(at.index(following), condition)
        elif preceding is not None:
            out.insert(at.index(preceding) + 1, condition)
        else:
            out.append(condition)
    return out


def _without(template: Template, keys: set[str]) -> tuple[Template, dict[str | None, int]]:
    """The template without the parameters `keys` (their groups kept, even when emptied), and
    where each stood (group → index)."""
    where: dict[str | None, int] = {}
    ungrouped = dict(template.parameters)
    groups = dict(template.parameter_groups)
    for group, parameters in _containers(template).items():
        for index, key in enumerate(parameters):
            if key in keys:
                where.setdefault(group, index)
        kept = {k: p for k, p in parameters.items() if k not in keys}
        if group is None:
            ungrouped = kept
        elif len(kept) != len(parameters):
            groups[group] = replace(groups[group], parameters=kept)
    return replace(template, parameters=ungrouped, parameter_groups=groups), where


def _drop_emptied(template: Template, emptied: set[str | None]) -> Template:
    """Without the groups in `emptied` that hold no parameter now (a group without parameters
    serves nothing; groups that were empty before are not the owner's to remove)."""
    groups = {
        name: group
        for name, group in template.parameter_groups.items()
        if group.parameters or name not in emptied
    }
    return replace(template, parameter_groups=groups)


def _with(template: Template, owned: OwnedParameter, index: int | None) -> Template:
    """The template with the owner's parameter in its group, at `index` (None: last)."""
    group = owned.group
    if group is None:
        container: Mapping[str, Parameter] = template.parameters
    else:
        container = template.parameter_groups.get(group, ParameterGroup()).parameters
    items = list(container.items())
    items.insert(len(items) if index is None else index, (owned.key, owned.parameter()))
    if group is None:
        return replace(template, parameters=dict(items))
    groups = dict(template.parameter_groups)
    groups[group] = replace(groups.get(group, ParameterGroup()), parameters=dict(items))
    return replace(template, parameter_groups=groups)


def _check_takeover(
    template: Template, wanted: OwnedParameter, previous: OwnedParameter | None
) -> None:
    """Refuses to take over what another parameter serves: a parameter of the same key (on
    creation, unless it already is what is wanted) or a condition of the same name that another
    parameter uses with another expression."""
    existing = read_owned(template, wanted.key)
    if previous is None and existing is not None and existing != wanted:
        raise TemplateConflict(
            f"the template already has a parameter '{wanted.key}' that this rollout did not "
            f"write (default value {existing.value!r}): remove it from the template, or "
            "choose another parameter key"
        )
    ours = {wanted.key} | ({previous.key} if previous else set())
    before = {c.name for c in previous.conditions} if previous else set()
    expressions = {c.name: c.expression for c in template.conditions}
    for condition in wanted.conditions:
        live = expressions.get(condition.name)
        others = sorted(users(template, condition.name) - ours)
        if condition.name in before or live in (None, condition.expression) or not others:
            continue
        raise TemplateConflict(
            f"the template already has a condition '{condition.name}' ({live}) that "
            f"parameter(s) {', '.join(others)} use: rename the condition in the spec, or "
            "change it in the template"
        )


def apply_owned(
    template: Template, wanted: OwnedParameter, previous: OwnedParameter | None = None
) -> Template:
    """The template with the owner's parameter and conditions as wanted; `previous`: what the
    owner published before (its key, group and conditions are replaced). Everything else is
    kept as read. Raises TemplateConflict (see `_check_takeover`)."""
    _check_takeover(template, wanted, previous)
    keys = {wanted.key} | ({previous.key} if previous else set())
    wanted_names = {c.name for c in wanted.conditions}
    dropped = {c.name for c in previous.conditions} - wanted_names if previous else set()
    kept_by_others = {n for n in dropped if users(template, n) - keys}
    expressions = {c.name: c.expression for c in wanted.conditions}
    existing = [
        replace(c, expression=expressions.get(c.name, c.expression))
        for c in template.conditions
        if c.name not in dropped or c.name in kept_by_others
    ]
    live = {c.name: c for c in existing}
    ordered = [live.get(c.name, Condition(c.name, c.expression)) for c in wanted.conditions]
    edited, where = _without(template, keys)
    edited = replace(edited, conditions=tuple(_place(existing, ordered)))
    return _drop_emptied(_with(edited, wanted, where.get(wanted.group)), set(where))


def remove_owned(template: Template, owned: OwnedParameter) -> Template:
    """The template without the owner's parameter, and without its conditions that no other
    parameter uses."""
    edited, where = _without(template, {owned.key})
    edited = _drop_emptied(edited, set(where))
    mine = {c.name for c in owned.conditions}
    conditions = tuple(c for c in edited.conditions if c.name not in mine or users(edited, c.name))
    return replace(edited, conditions=conditions)


def publish_edit(
    client: RemoteConfigClient,
    edit: Callable[[Template], Template],
    *,
    description: str,
    log: Callable[[str], None],
) -> tuple[Template, bool]:
    """Reads the template, edits it, validates the result and publishes it with the ETag it
    read; on a concurrent publish (412) starts again from the new template. Returns the active
    template and whether this call published it (False: it already was as wanted)."""
    for _ in range(MAX_ATTEMPTS):
        current = client.get()
        wanted = edit(current)
        if wanted.content_json() == current.content_json():
            return current, False
        client.validate(wanted, description=description)
        try:
            return client.publish(wanted, description=description), True
        except EtagMismatch:
            log(
                f"the template changed after version {current.version_number} was read "
                "(someone published meanwhile): reading it again, their change is kept"
            )
    raise CloudError(
        f"the Remote Config template of project {client.project} changed {MAX_ATTEMPTS} times "
        "while this change was being published; nothing of it was published: run again"
    )
