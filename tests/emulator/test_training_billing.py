"""The billed cost of a wall-clock training agrees with the training seconds it reports."""

from emulator.core.training.budget import Budget, BudgetClock, train_cost_milli_node_hours


def test_the_cost_is_billed_from_the_seconds_the_result_reports():
    """The result reports its training seconds rounded to the millisecond; the cost was computed
    from the unrounded clock, so 0.48004 s at 60 s per node hour was reported as 0.48 s
    (8 milli node hours) and billed 9 (a fresh clone's run failed on it, 2026-12-03)."""
    clock = BudgetClock(Budget(milli_node_hours=100_000, seconds_per_node_hour=60.0))
    clock._seconds = 0.48004  # what the timed epochs summed to
    reported = round(clock.seconds, 3)
    assert clock.cost_milli_node_hours() == train_cost_milli_node_hours(reported, 60.0, 100_000)
    assert clock.cost_milli_node_hours() == 8
