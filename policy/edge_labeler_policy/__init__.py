"""The policies of the edge-labeler policy pack, one module each."""

from pulumi_policy import Policy

from edge_labeler_policy import acceptance, budget, promotion, protection

POLICIES: list[Policy] = [budget.POLICY, promotion.POLICY, acceptance.POLICY, protection.POLICY]
