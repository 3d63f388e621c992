"""The policies of the edge-labeler policy pack, one module each."""

from edge_labeler_policy import acceptance, budget, promotion, protection

POLICIES = [budget.POLICY, promotion.POLICY, acceptance.POLICY, protection.POLICY]
