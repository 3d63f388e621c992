"""The edge-labeler policy pack: `pulumi preview --policy-pack policy` (README, "Policies").

Every policy is mandatory unless `--policy-pack-config` sets its `enforcementLevel`.
"""

from edge_labeler_policy import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="edge-labeler",
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Guardrails for edge-labeler stacks: budget caps, promotion to production, "
    "production acceptance floors, protected production publications.",
)
