"""The billed cost of a wall-clock training agrees with the training seconds it reports."""

from emulator.core.training.budget import Budget, BudgetClock, train_cost_milli_node_hours


def test_the_cost_is_billed_from_the_seconds_the_result_reports():
    """The result reported its training seconds rounded to the millisecond and the cost was
    computed from the unrounded clock: 0.48004 s at 60 s per node hour was reported as 0.48 s
    (8 milli node hours) and billed 9 (a fresh clone's run failed on it, 2026-12-03). Both now
    come from the seconds rounded up to the millisecond."""
    clock = BudgetClock(Budget(milli_node_hours=100_000, seconds_per_node_hour=60.0))
    clock._seconds = 0.48004  # what the timed epochs summed to
    assert clock.billed_seconds == 0.481
    assert clock.cost_milli_node_hours() == train_cost_milli_node_hours(0.481, 60.0, 100_000) == 9
    clock._seconds = 0.48
    assert (clock.billed_seconds, clock.cost_milli_node_hours()) == (0.48, 8)
