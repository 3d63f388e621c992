"""Errors of the training engine, each with a message that names the input and what is allowed."""


class TrainingError(ValueError):
    """Invalid training input; the message names the field or example and what is allowed."""


class BudgetTooSmall(TrainingError):
    """The budget cannot pay for one complete epoch; nothing was trained and nothing is billed.

    The service answers FAILED_PRECONDITION: the request is valid, the emulator's budget scale
    (or the budget) is what has to change.
    """


class TrainingCancelled(Exception):
    """Training stopped because the cancel event was set; nothing was written."""

    def __init__(self, elapsed_seconds: float, cost_milli_node_hours: int, epochs: int) -> None:
        super().__init__(f"training cancelled after {elapsed_seconds:.1f}s ({epochs} epochs)")
        self.elapsed_seconds = elapsed_seconds
        self.cost_milli_node_hours = cost_milli_node_hours
        self.epochs = epochs
