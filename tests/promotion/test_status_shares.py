"""`edgectl status`'s share of users per Rollout condition, from the live expressions: the first
true condition wins (Remote Config's order), percentiles of one seed are shared, seeds are
independent."""

import pytest

from components.promotion.status import effective_shares


@pytest.mark.parametrize(
    ("expressions", "shares", "default"),
    [
        ([], [], 100),
        (["percent('digits_model') <= 10"], [10], 90),
        # One seed: after 10 %, a condition at 20 % serves the next 10 %.
        (["percent('m') <= 10", "percent('m') <= 20"], [10, 10], 80),
        (["percent('m') > 90", "percent('m') between 80 and 95"], [10, 10], 80),
        # Independent seeds: half of the 90 % that the first did not take.
        (["percent('a') <= 10", "percent('b') <= 50"], [10, 45], 45),
        # Rules other than a percentage: who matches is not known, nor the shares after them.
        (["device.country in ['ca']", "percent('m') <= 10"], [None, None], None),
        (["app.id == 'x' && percent('m') <= 10"], [None], None),
        (["percent('m') <= 10", "device.os == 'ios'"], [10, None], None),
    ],
)
def test_effective_shares(expressions, shares, default):
    assert effective_shares(expressions) == (shares, default)
