"""Planner p95 reduced by at least 30 %.

The p95 of `planner_duration_ms` over `auto_assign.quote` events in POST is at most 0.70 times the
p95 in BASELINE.
"""

from goals.rollout import PLANNER_DURATION
from sprintgate import Gate, Goal, QuantileRatio

GOAL = Goal(id="planner_p95_reduction", metric=QuantileRatio(PLANNER_DURATION, q=0.95, at_most=0.70))


def test_planner_p95_reduction(gate: Gate) -> None:
    gate.check(GOAL)
