"""When training stops and at which rate it learns: the schedule, early stopping, the best epoch.

Schedule. The learning rate follows the training's progress p (0–1): a linear warm-up over the
first `warmup` of it, then a cosine decay to zero at p = 1, so the last steps anneal whatever
the budget. p is the optimizer steps taken over the `horizon` steps a model needs to converge,
or over the steps the budget pays for when that is fewer (`reachable`: an epoch budget's
epochs; a wall-clock budget's seconds at the pace of the epochs run so far, see loop.py); a
training that reaches its horizon before the budget ends `MODEL_CONVERGED` (and is billed only
that far). The rates depend on the clock only where the budget is expected to end the
training first: a training that converges within its budget takes the same steps at the same
rates on any machine fast enough for it, so its seed decides its model.

Early stopping. Validation loss that has not improved by `min_delta` for `patience` epochs ends
the training `MODEL_CONVERGED` too — never before `warmup_steps` optimizer steps: on a small
dataset an epoch is a few steps, and the validation loss of a fresh network first rises while
BatchNorm statistics settle. The weights of the epoch with the lowest validation loss are kept.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

MODEL_CONVERGED = "MODEL_CONVERGED"
BUDGET_REACHED = "BUDGET_REACHED"


@dataclass(frozen=True)
class Schedule:
    """Learning rate by progress: linear warm-up, then cosine decay to zero."""

    peak: float
    horizon: int  # optimizer steps after which the model counts as converged
    warmup: float = 0.05  # fraction of the progress spent warming up

    def progress(self, steps: int, reachable: float | None = None) -> float:
        """How far the training is (0–1): its steps over the horizon, or over the steps the
        budget is expected to pay for (`reachable`; None: not known yet) when those are fewer."""
        horizon = self.horizon if reachable is None else min(self.horizon, max(1.0, reachable))
        return min(1.0, steps / horizon)

    def rate(self, progress: float) -> float:
        """The learning rate at a progress of 0–1."""
        if progress < self.warmup:
            return self.peak * (progress + 1e-3) / self.warmup
        decay = (progress - self.warmup) / (1 - self.warmup)
        return self.peak * 0.5 * (1 + math.cos(math.pi * min(1.0, decay)))


@dataclass
class EarlyStopping:
    """Tracks validation loss per epoch; says when it stopped improving; keeps the best weights."""

    patience: int
    min_delta: float
    warmup_steps: int
    best_loss: float = math.inf
    best_epoch: int = 0
    best_weights: list | None = field(default=None, repr=False)
    waited: int = 0

    def observe(self, epoch: int, val_loss: float, steps: int, weights: Callable[[], list]) -> bool:
        """Records an epoch's validation loss; True when training has converged (stop now)."""
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.waited = val_loss, epoch, 0
            self.best_weights = weights()
            return False
        if steps < self.warmup_steps:
            return False
        self.waited += 1
        return self.waited >= self.patience
