"""Planner cache hit rate under 30 %, so stale data cannot dominate.

The share of `auto_assign.quote` events with `cache_hit` true in POST is below 0.30 (Wilson
interval). The rate per `reasonCode` (e.g. `hard.no_capacity`, `transient.hold_conflict`) is
reported beside it.
"""

from sprintgate import Gate, Goal, Kind, ProportionCeiling

GOAL = Goal(
    id="cache_hit_ceiling",
    kind=Kind.GOAL,
    title="Cache hit rate < 30 %",
    text=__doc__ or "",
    metric=ProportionCeiling("cache_hit"),
    target=0.30,
)


def test_cache_hit_ceiling(gate: Gate) -> None:
    gate.check(GOAL)
