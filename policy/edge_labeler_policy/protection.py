"""protected-publications: a production stack's publications carry the `protect` option."""

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from edge_labeler_policy.resources import PUBLICATION, spec_name, stack_of
from edge_labeler_policy.stacks import PRODUCTION_STACKS, configured, production_reason

NAME = "protected-publications"
PROPERTIES: dict[str, dict[str, Any]] = {"productionStacks": PRODUCTION_STACKS}


def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != PUBLICATION or args.opts.protect:
        return
    stack = stack_of(args.props)
    why = production_reason(stack, configured(args, PROPERTIES))
    if why is None:
        return
    report_violation(
        f"Publication '{spec_name(args.props)}' ({args.name}) on stack '{stack}', which is "
        f"production ({why}), is not protected: a removed spec, a replacement or `pulumi "
        f'destroy` would delete the model apps download. Set `edge-labeler:protect: "true"` '
        f"in Pulumi.{stack}.yaml: the program then protects the stack's buckets and "
        f"publications.",
        args.urn,
    )


POLICY = ResourceValidationPolicy(
    name=NAME,
    description="Publications on production stacks are protected (the `protect` option).",
    validate=validate,
    config_schema=PolicyConfigSchema(PROPERTIES),
)
