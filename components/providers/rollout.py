"""Rollout: a Remote Config parameter naming the published model each group of users gets.

The project's Remote Config template is shared, so the provider edits only its own parameter
and conditions (components/cloud/remote_config_edit.py): it reads the template, puts its
parameter (default value: a publication's display name; one conditional value per condition,
serving another publication's) and its conditions in place, validates the result
(`validateOnly`) and publishes it with the ETag it read. A concurrent publish (412) is read
again and the change re-applied to it; nothing of anyone else's is overwritten. Nothing is
published when the template already is as wanted. Deleting removes the parameter, and its
conditions unless another parameter uses them. A refresh reads the parameter back, so a
value or condition changed in the console shows as drift and the next update puts it back.
"""

from collections.abc import Mapping
from typing import Any, Generic, Never, NotRequired, TypedDict

import pulumi

from components.cloud.clients import REMOTE_CONFIG, CloudInputs, CloudTarget
from components.cloud.remote_config import RemoteConfigClient, rollout_condition_expression
from components.cloud.remote_config_edit import (
    OwnedParameter,
    ServedCondition,
    apply_owned,
    publish_edit,
    read_owned,
    remove_owned,
)
from components.providers.base import DynamicResource, Pending, Provider, stable_id
from components.spec import Rollout as RolloutSpec

OUTPUTS = ("templateVersion",)


class RolloutConditionInputs(TypedDict, Generic[Pending]):
    name: str  # the Remote Config condition
    expression: str
    publication: str  # the Publication document served
    value: str | Pending  # its display name


class RolloutInputs(TypedDict, Generic[Pending]):
    name: str
    cloud: CloudInputs
    parameter: str
    description: str
    group: NotRequired[str | None]
    publication: str  # the Publication document served by default
    value: str | Pending  # its display name
    conditions: list[RolloutConditionInputs[Pending]]  # in priority order


class RolloutOutputs(TypedDict, total=False):
    templateVersion: int | None  # the template version that holds this rollout as published


class RolloutProps(RolloutInputs[Never], RolloutOutputs):
    pass


class RolloutLive(RolloutOutputs, total=False):
    """The outputs, and what is live of the inputs, so that a refresh shows drift."""

    value: str
    description: str
    group: str | None
    conditions: list[RolloutConditionInputs[Never]]


def rollout_inputs(
    spec: RolloutSpec, target: CloudTarget, values: dict[str, str | Pending]
) -> RolloutInputs[Pending]:
    """The provider's inputs for a Rollout spec; `values`: each publication's display name by
    Publication document (in the graph, Refs to the publications, so they are published
    first)."""
    return {
        "name": spec.name,
        "cloud": target.as_inputs(REMOTE_CONFIG),
        "parameter": spec.parameter,
        "description": spec.description,
        "group": spec.group,
        "publication": spec.publication,
        "value": values[spec.publication],
        "conditions": [
            {
                "name": c.name,
                "expression": rollout_condition_expression(c),
                "publication": c.publication,
                "value": values[c.publication],
            }
            for c in spec.conditions
        ],
    }


def owned(props: RolloutProps) -> OwnedParameter:
    """The parameter as the properties describe it."""
    return OwnedParameter(
        key=props["parameter"],
        value=props["value"],
        conditions=tuple(
            ServedCondition(c["name"], c["expression"], c["value"]) for c in props["conditions"]
        ),
        description=props["description"],
        group=props.get("group"),
    )


def _client(props: RolloutProps) -> RemoteConfigClient:
    return RemoteConfigClient(CloudTarget.from_inputs(props["cloud"]))


def _version_note(props: RolloutProps, action: str) -> str:
    """The template version's description (shown in the console's change history)."""
    return f"edge-labeler: {action} Rollout '{props['name']}' (stack {props['cloud']['stack']})"


class RolloutProvider(Provider[RolloutProps]):
    outputs = OUTPUTS
    kind = "Rollout"
    replace_on = ("cloud",)  # another project: another template
    update_on = ("parameter", "description", "group", "value", "conditions")

    @staticmethod
    def describe(props: Mapping[str, Any]) -> str:
        return str(props.get("parameter", "?"))

    def _converge(self, props: RolloutProps, previous: RolloutProps | None) -> RolloutOutputs:
        log = self.log(props)
        wanted = owned(props)
        before = owned(previous) if previous is not None else None
        template, published = publish_edit(
            _client(props),
            lambda t: apply_owned(t, wanted, before),
            description=_version_note(props, "apply"),
            log=log,
        )
        served = ", ".join(f"{c.name} → {c.value}" for c in wanted.conditions)
        state = f"published as version {template.version_number}" if published else "unchanged"
        log(f"{wanted.key} = {wanted.value}{f' ({served})' if served else ''}: {state}")
        return {"templateVersion": template.version_number}

    def _create(self, props: RolloutProps) -> tuple[str, RolloutOutputs]:
        outs = self._converge(props, None)
        return stable_id(props["cloud"].get("project", ""), props["parameter"]), outs

    def _update(self, id_: str, olds: RolloutProps, news: RolloutProps) -> RolloutOutputs:
        return self._converge(news, olds)

    def _read(self, id_: str, props: RolloutProps) -> RolloutLive | None:
        template = _client(props).get()
        live = read_owned(template, props["parameter"])
        if live is None:
            return None  # removed outside this tool: the next update publishes it again
        publications = {c["name"]: c["publication"] for c in props["conditions"]}
        return {
            "templateVersion": template.version_number,
            "value": live.value,
            "description": live.description,
            "group": live.group,
            "conditions": [
                {
                    "name": c.name,
                    "expression": c.expression,
                    "publication": publications.get(c.name, ""),
                    "value": c.value,
                }
                for c in live.conditions
            ],
        }

    def _delete(self, id_: str, props: RolloutProps) -> None:
        mine = owned(props)
        _, published = publish_edit(
            _client(props),
            lambda t: remove_owned(t, mine),
            description=_version_note(props, "delete"),
            log=self.log(props),
        )
        self.log(props)(
            f"{mine.key} removed from the template" if published else f"{mine.key} was not there"
        )


class Rollout(DynamicResource, module="edge-labeler", name="Rollout"):
    """A Remote Config parameter serving publications to groups of users."""

    templateVersion: pulumi.Output[int]

    provider_type = RolloutProvider
    computed_outputs = OUTPUTS
