"""Planner invocations (attempts) per booking reduced by at least 50 %.

The mean number of `auto_assign.attempt` rows per booking in POST is at most 0.50 times the mean in
BASELINE, the booking being the unit.
"""

from goals.rollout import ATTEMPTS_PER_BOOKING
from sprintgate import Gate, Goal, MeanRatio

GOAL = Goal(id="attempts_per_booking_reduction", metric=MeanRatio(ATTEMPTS_PER_BOOKING, at_most=0.50))


def test_attempts_per_booking_reduction(gate: Gate) -> None:
    gate.check(GOAL)
