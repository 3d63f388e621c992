"""The program's resources as a policy sees them: type tokens and the inputs the policies read.

The program's dynamic providers (components/providers/) define these inputs; the pack imports
nothing from the project (it runs in its own virtualenv), and tests/policy/ sends it what the
program registers, so a renamed input fails those tests.
"""

from collections.abc import Mapping
from typing import Any

# A `pulumi.dynamic.Resource` subclass named `edge-labeler:X` registers as this type.
DYNAMIC = "pulumi-python:dynamic/edge-labeler:"
TRAINED_MODEL = DYNAMIC + "TrainedModel"
ACCEPTANCE_GATE = DYNAMIC + "AcceptanceGate"
PROMOTED_MODEL = DYNAMIC + "PromotedModel"
PUBLICATION = DYNAMIC + "Publication"


def stack_of(props: Mapping[str, Any]) -> str | None:
    """The stack a resource belongs to: every resource's `cloud` input names it."""
    cloud = props.get("cloud")
    return cloud.get("stack") if isinstance(cloud, Mapping) else None


def spec_name(props: Mapping[str, Any]) -> str:
    """metadata.name of the spec document the resource comes from."""
    return str(props.get("name", "?"))
