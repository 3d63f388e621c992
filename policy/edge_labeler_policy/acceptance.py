"""production-acceptance-floors: production's gate keeps `noWorseThan: published` and at
least staging's minima.

A policy pack sees one stack's resources only, so staging's minima are this policy's config
(defaults: specs/envs/staging.yaml's); README, "Policies", has the Git-side alternatives.
"""

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from edge_labeler_policy.resources import ACCEPTANCE_GATE, PROMOTED_MODEL, spec_name, stack_of
from edge_labeler_policy.stacks import PRODUCTION_STACKS, configured, production_reason

NAME = "production-acceptance-floors"
# The spec's acceptance field → the key of the resource's `criteria` input.
CRITERIA = {"minPrecision": "min_precision", "minRecall": "min_recall", "minAuPrc": "min_au_prc"}


def _floor(description: str, default: float | None) -> dict[str, Any]:
    return {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 1,
        "default": default,
        "description": description + " (null: no floor).",
    }


PROPERTIES: dict[str, dict[str, Any]] = {
    "productionStacks": PRODUCTION_STACKS,
    "requireNoWorseThanPublished": {
        "type": "boolean",
        "default": True,
        "description": "Production's acceptance must say `noWorseThan: published`.",
    },
    "minPrecision": _floor("The least acceptance.minPrecision production may have", 0.9),
    "minRecall": _floor("The least acceptance.minRecall production may have", 0.9),
    "minAuPrc": _floor("The least acceptance.minAuPrc production may have", None),
}


def shortfalls(criteria: Any, config: dict[str, Any]) -> list[str]:
    """What in the `criteria` input is looser than the configured floors."""
    found = []
    if config["requireNoWorseThanPublished"] and not criteria.get("no_worse_than_published"):
        found.append(
            "acceptance.noWorseThan is not `published`: a model worse than the one apps run "
            "could replace it"
        )
    for field, key in CRITERIA.items():
        floor, value = config[field], criteria.get(key)
        if floor is None:
            continue
        if value is None:
            found.append(f"acceptance.{field} is not set; at least {floor:g} is required")
        elif value < floor:
            found.append(f"acceptance.{field} {value:g} is below the floor {floor:g}")
    return found


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (ACCEPTANCE_GATE, PROMOTED_MODEL):
        return
    config = configured(args, PROPERTIES)
    stack = stack_of(args.props)
    why = production_reason(stack, config)
    if why is None:
        return
    found = shortfalls(args.props.get("criteria") or {}, config)
    if not found:
        return
    report_violation(
        f"Model '{spec_name(args.props)}' ({args.name}) on stack '{stack}', which is "
        f"production ({why}), loosens its acceptance:\n"
        + "\n".join(f"  - {line}" for line in found)
        + f"\nRestore them in specs/envs/{stack}.yaml (the floors, staging's minima, are "
        f"this policy's config).",
        args.urn,
    )


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Production acceptance keeps `noWorseThan: published` and at least "
    "staging's minima.",
    validate=validate,
    config_schema=PolicyConfigSchema(PROPERTIES),
)
