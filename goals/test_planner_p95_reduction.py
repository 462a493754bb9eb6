"""Planner p95 reduced by at least 30 %.

The p95 of `planner_duration_ms` over `auto_assign.quote` events in POST is at most 0.70 times the
p95 in BASELINE (ratio of two quantiles; rank bootstrap over the two duration histograms).
"""

from sprintgate import Gate, Goal, Kind, QuantileRatio

GOAL = Goal(
    id="planner_p95_reduction",
    kind=Kind.GOAL,
    title="Planner p95 reduced by >= 30 %",
    text=__doc__ or "",
    metric=QuantileRatio("planner_duration", q=0.95),
    target=0.70,
)


def test_planner_p95_reduction(gate: Gate) -> None:
    gate.check(GOAL)
