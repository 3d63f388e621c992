"""production-models-promoted: a production stack copies models gated elsewhere, never trains."""

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from edge_labeler_policy.resources import TRAINED_MODEL, spec_name, stack_of
from edge_labeler_policy.stacks import (
    PRODUCTION_STACKS,
    configured,
    production_reason,
    promotion_sources,
)

NAME = "production-models-promoted"
PROPERTIES: dict[str, dict[str, Any]] = {"productionStacks": PRODUCTION_STACKS}


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TRAINED_MODEL:
        return
    stack = stack_of(args.props)
    why = production_reason(stack, configured(args, PROPERTIES))
    if why is None:
        return
    model = spec_name(args.props)
    source = next(iter(promotion_sources()), "SOURCE")
    report_violation(
        f"Model '{model}' ({args.name}) would be trained on stack '{stack}', which is "
        f"production ({why}): production serves a model gated on another stack, copied and "
        f"verified by digest. Pin one with `edgectl promote --model {model} --from {source} "
        f"--to {stack}` (it writes `promoted: {{from: {source}, fingerprint: …}}` into "
        f"specs/envs/{stack}.yaml).",
        args.urn,
    )


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Production stacks promote gated models; they never train one.",
    validate=validate,
    config_schema=PolicyConfigSchema(PROPERTIES),
)
