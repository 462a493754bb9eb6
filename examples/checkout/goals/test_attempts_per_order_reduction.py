"""Payment attempts per order reduced by at least 20 %.

The mean number of `checkout.payment_attempt` rows per order (`order_id`) in POST is at most 0.80
times the mean in BASELINE, the order being the unit: card data validated before it reaches the
payment provider means fewer declines and retries.
"""

from sprintgate import Gate, Goal, MeanRatio

from goals.checkout import ATTEMPTS_PER_ORDER

GOAL = Goal(id="attempts_per_order_reduction", metric=MeanRatio(ATTEMPTS_PER_ORDER, at_most=0.80))


def test_attempts_per_order_reduction(gate: Gate) -> None:
    gate.check(GOAL)
