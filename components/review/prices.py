"""The one table of prices used for estimates, with where each figure comes from.

Edge (on-device) image training is billed per node hour used; a review estimates the most a
retrain can cost: the spec's budget in node hours × the price per node hour. The price of a
stack is, first match wins: the `--price-per-node-hour` flag, the stack's
`edge-labeler:trainingPricePerNodeHour` setting, this table by training API, and nothing for
stacks on the local emulator (it bills nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.spec import StackConfig


@dataclass(frozen=True)
class Price:
    """US dollars per node hour of edge training, and where the figure comes from."""

    per_node_hour: float
    source: str


# Training API → list price of edge (on-device) image classification training.
EDGE_TRAINING_PRICES: dict[str, Price] = {
    "vertex": Price(
        18.00,
        "Vertex AI pricing page (cloud.google.com/vertex-ai/pricing), Image data, "
        "'Training (Edge on-device model)', classification: $18.00 per node hour "
        "(as listed when this table was written, 2026-11)",
    ),
    "automl_v1": Price(
        4.95,
        "AutoML Vision pricing of 2021 (also on the Vertex AI pricing page archived "
        "2021-06-10), 'Training (on-device)', classification: $4.95 per node hour; the "
        "legacy API stopped serving image models on 2024-03-31",
    ),
}
EMULATOR_PRICE = Price(0.0, "local emulator: nothing is billed")


def training_price(config: StackConfig, override: float | None = None) -> Price:
    """The price per node hour used for a stack's estimates, with its source named."""
    if override is not None:
        return Price(override, "--price-per-node-hour on the command line")
    if config.training_price_per_node_hour is not None:
        return Price(
            config.training_price_per_node_hour,
            f"edge-labeler:trainingPricePerNodeHour in {config.source}",
        )
    if config.emulator:
        return EMULATOR_PRICE
    return EDGE_TRAINING_PRICES[config.api.value]
