"""The node-hour budget: what it buys (seconds of training steps, or whole epochs) and its cost.

`budget_milli_node_hours` / 1000 node hours become either
- seconds of training steps: × `EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR` (default 60 s).
  Only the optimizer steps and the per-epoch validation are timed and billed; decoding images,
  building the model, TensorFlow's graph tracing and the export are setup, timed apart and
  free. A budget that ends inside the first epoch fails the training (`BudgetTooSmall`):
  a model whose weights never completed an epoch is not a trained model.
- or, with `EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR` set, whole epochs (for results that do
  not depend on the machine's speed): floor(node hours × epochs per node hour). A budget that
  buys no epoch is refused before anything starts.

Cost: the billed part in milli node hours, rounded up to a whole unit and never more than the
budget (the API's field is an integer and Google never bills above the budget).
"""

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from emulator.core.training.errors import BudgetTooSmall, TrainingError

SECONDS_PER_NODE_HOUR_ENV = "EDGE_LABELER_EMULATOR_SECONDS_PER_NODE_HOUR"
DEFAULT_SECONDS_PER_NODE_HOUR = 60.0
# Optional, for reproducible runs on machines of any speed (CI): the budget counts epochs,
# not seconds. 1 node hour = this many epochs; the wall clock then plays no part.
EPOCHS_PER_NODE_HOUR_ENV = "EDGE_LABELER_EMULATOR_EPOCHS_PER_NODE_HOUR"


def seconds_per_node_hour(value: float | None = None) -> float:
    """The budget scale: `value`, else the environment variable, else 60 s."""
    scale = _setting(value, "seconds_per_node_hour", SECONDS_PER_NODE_HOUR_ENV, "seconds")
    return DEFAULT_SECONDS_PER_NODE_HOUR if scale is None else scale


def epochs_per_node_hour(value: float | None = None) -> float | None:
    """The epoch budget scale, when training counts epochs instead of seconds (else None).

    0 is a valid setting that buys no epoch: `Budget.require_an_epoch` refuses every training.
    """
    return _setting(value, "epochs_per_node_hour", EPOCHS_PER_NODE_HOUR_ENV, "epochs", zero=True)


def _setting(
    value: float | None, name: str, env: str, unit: str, zero: bool = False
) -> float | None:
    """`value`, else the environment variable `env` (None when unset): a positive number."""
    source = name
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return None
        source = env
        try:
            value = float(raw)
        except ValueError:
            raise TrainingError(
                f"{source}={raw!r} is not a number; a positive number of {unit} is allowed"
            ) from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        allowed = "zero or a positive" if zero else "a positive"
        raise TrainingError(f"{source}={value!r}: {allowed} number of {unit} is allowed")
    return float(value)


def train_cost_milli_node_hours(seconds: float, scale: float, budget: int) -> int:
    """Billed seconds in milli node hours, rounded up to a whole unit, capped at the budget."""
    return min(budget, max(0, math.ceil(seconds / scale * 1000 - 1e-9)))


@dataclass(frozen=True)
class Budget:
    """What a node-hour budget buys at the emulator's scale."""

    milli_node_hours: int
    seconds_per_node_hour: float
    epochs_per_node_hour: float | None = None  # set: the budget counts epochs, not seconds

    @property
    def counts_epochs(self) -> bool:
        return self.epochs_per_node_hour is not None

    @property
    def seconds(self) -> float:
        """Seconds of training steps (the wall-clock budget; unused when counting epochs)."""
        return self.milli_node_hours / 1000 * self.seconds_per_node_hour

    @property
    def epochs(self) -> int | None:
        """Whole epochs the budget buys when counting epochs, else None."""
        if self.epochs_per_node_hour is None:
            return None
        return math.floor(self.milli_node_hours / 1000 * self.epochs_per_node_hour + 1e-9)

    def describe(self) -> str:
        """The budget and what it buys, for messages."""
        if self.epochs_per_node_hour is not None:
            return (
                f"{self.milli_node_hours:,} milli node hours ({self.epochs} epochs at "
                f"{self.epochs_per_node_hour:g} epochs per node hour, {EPOCHS_PER_NODE_HOUR_ENV})"
            )
        return (
            f"{self.milli_node_hours:,} milli node hours ({self.seconds:.3g} s of training at "
            f"{self.seconds_per_node_hour:g} s per node hour, {SECONDS_PER_NODE_HOUR_ENV})"
        )

    def require_an_epoch(self) -> None:
        """Refuses, before anything runs, an epoch budget that buys no epoch."""
        if self.epochs != 0:
            return
        needs = (
            "no budget buys one"
            if not self.epochs_per_node_hour
            else f"one epoch needs {math.ceil(1000 / self.epochs_per_node_hour):,} milli node hours"
        )
        raise BudgetTooSmall(
            f"the budget of {self.describe()} cannot complete one epoch ({needs}); "
            "nothing was trained or billed"
        )

    def too_small(self, epoch_seconds: float, train_count: int) -> BudgetTooSmall:
        """The error of a wall-clock budget that ended inside the first epoch."""
        needs = math.ceil(epoch_seconds / self.seconds_per_node_hour * 1000)
        return BudgetTooSmall(
            f"the budget of {self.describe()} cannot complete one epoch: one epoch of "
            f"{train_count:,} TRAIN images needs about {epoch_seconds:.3g} s of training here "
            f"(≈ {needs:,} milli node hours at this scale); no model was created and nothing "
            "was billed"
        )


class BudgetClock:
    """The training spent against a Budget: billed seconds (timed only while `running`), epochs."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.epochs_done = 0
        self._seconds = 0.0
        self._since: float | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Times (and bills) the block: training steps and validation, nothing else."""
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._seconds += time.monotonic() - self._since
            self._since = None

    @property
    def seconds(self) -> float:
        """Billed seconds so far."""
        running = 0.0 if self._since is None else time.monotonic() - self._since
        return self._seconds + running

    @property
    def billed_seconds(self) -> float:
        """`seconds` as reported and billed: rounded up to the millisecond (never understated,
        so a training that ran is billed at least one unit)."""
        return math.ceil(self.seconds * 1000 - 1e-9) / 1000

    def exhausted(self) -> bool:
        """True once the budget is spent: its seconds, or its whole epochs."""
        epochs = self.budget.epochs
        if epochs is not None:
            return self.epochs_done >= epochs
        return self.seconds >= self.budget.seconds

    def fraction(self) -> float:
        """The part of the budget spent (0–1): its seconds, or its epochs done."""
        epochs = self.budget.epochs
        if epochs is not None:
            return min(1.0, self.epochs_done / max(1, epochs))
        return min(1.0, self.seconds / self.budget.seconds)

    def cost_milli_node_hours(self) -> int:
        """What the training so far is billed."""
        budget = self.budget.milli_node_hours
        epochs = self.budget.epochs
        if epochs is not None:
            return min(budget, math.ceil(self.epochs_done / max(1, epochs) * budget - 1e-9))
        seconds = self.billed_seconds  # as reported: the record's seconds and cost agree
        return train_cost_milli_node_hours(seconds, self.budget.seconds_per_node_hour, budget)
