"""training-budget-cap: a TrainedModel's node-hour budget stays within its stack's cap."""

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from edge_labeler_policy.resources import TRAINED_MODEL, spec_name, stack_of
from edge_labeler_policy.stacks import configured

NAME = "training-budget-cap"
PROPERTIES: dict[str, dict[str, Any]] = {
    "maxNodeHours": {
        "type": "object",
        "additionalProperties": {"type": "number", "minimum": 0},
        # local: the emulator, free (the API's maximum); prod trains nothing (it promotes).
        "default": {"local": 100, "dev": 2, "staging": 10, "prod": 0},
        "description": "The most node hours one model may train for, by stack name.",
    },
    "otherStacksMaxNodeHours": {
        "type": ["number", "null"],
        "minimum": 0,
        "default": 1,
        "description": "The cap of a stack not in maxNodeHours (1: the minimum the training "
        "API allows); null: no cap.",
    },
}


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TRAINED_MODEL:
        return
    config = configured(args, PROPERTIES)
    stack = stack_of(args.props)
    cap = (config["maxNodeHours"] or {}).get(stack, config["otherStacksMaxNodeHours"])
    milli = args.props.get("budgetMilliNodeHours")
    if cap is None or milli is None or milli / 1000 <= cap:
        return
    model = spec_name(args.props)
    hours = milli / 1000
    fix = (
        "this stack trains nothing: pin a model gated on another stack (`edgectl promote`)"
        if cap == 0
        else f"lower the Model's spec.budget.nodeHours (specs/, or specs/envs/{stack}.yaml)"
    )
    report_violation(
        f"Model '{model}' ({args.name}) would train for up to {hours:g} node "
        f"hour{'s' * (hours != 1)} (budgetMilliNodeHours {milli:g}) on stack '{stack}', whose "
        f"cap is {cap:g} node hour{'s' * (cap != 1)}: {fix}, or raise maxNodeHours.{stack} in "
        "the policy config.",
        args.urn,
    )


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="A TrainedModel's node-hour budget stays within its stack's cap.",
    validate=validate,
    config_schema=PolicyConfigSchema(PROPERTIES),
)
