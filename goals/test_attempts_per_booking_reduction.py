"""Planner invocations (attempts) per booking reduced by at least 50 %.

The mean number of `auto_assign.attempt` rows per booking in POST is at most 0.50 times the mean in
BASELINE (ratio of means with the booking as the unit; delta method on the log ratio).
"""

from sprintgate import Gate, Goal, Kind, MeanRatio

GOAL = Goal(
    id="attempts_per_booking_reduction",
    kind=Kind.GOAL,
    title="Attempts per booking reduced by >= 50 %",
    text=__doc__ or "",
    metric=MeanRatio("attempts_per_booking"),
    target=0.50,
)


def test_attempts_per_booking_reduction(gate: Gate) -> None:
    gate.check(GOAL)
