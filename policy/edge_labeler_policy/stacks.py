"""Which stacks count as production, and a policy's configuration with its defaults."""

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_policy import ResourceValidationArgs

PRODUCTION_STACKS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["prod"],
    "description": "Stacks that are production even when their config does not set "
    "edge-labeler:protect (a stack that sets it is production anyway).",
}


def configured(
    args: ResourceValidationArgs, properties: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The policy's configuration: what `--policy-pack-config` sets over the schema's defaults.

    The CLI fills in the defaults itself; they are applied here too, so the policy reads the
    same values whoever configures it.
    """
    defaults = {key: schema.get("default") for key, schema in properties.items()}
    return {**defaults, **dict(args.get_config())}


def production_reason(stack: str | None, config: Mapping[str, Any]) -> str | None:
    """Why `stack` is production (None: it is not)."""
    if stack is None:
        return None
    if stack in (config.get("productionStacks") or ()):
        return "listed in productionStacks"
    if _stack_config_bool("protect"):
        return f'Pulumi.{stack}.yaml sets edge-labeler:protect: "true"'
    return None


def promotion_sources() -> list[str]:
    """The stack's `edge-labeler:promoteFrom` (the stacks it may take a model from)."""
    try:
        sources = pulumi.Config("edge-labeler").get_object("promoteFrom")
    except (pulumi.ConfigTypeError, ValueError):
        return []
    return [str(s) for s in sources] if isinstance(sources, list) else []


def _stack_config_bool(key: str) -> bool:
    # The CLI gives a policy pack the stack's config (PULUMI_CONFIG, as a program gets it);
    # pulumi-policy loads it before every analysis.
    try:
        return pulumi.Config("edge-labeler").get_bool(key) is True
    except pulumi.ConfigTypeError:
        return False  # the program refuses such a value before anything is created
