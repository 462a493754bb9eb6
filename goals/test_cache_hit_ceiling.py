"""Planner cache hit rate under 30 %, so stale data cannot dominate.

The share of `auto_assign.quote` events with `cache_hit` true in POST is below 30 %. The rate per
`reasonCode` (`hard.no_capacity`, `transient.hold_conflict`) is reported beside it.
"""

from goals.rollout import CACHE_HITS
from sprintgate import Gate, Goal, RateLimit

GOAL = Goal(id="cache_hit_ceiling", metric=RateLimit(CACHE_HITS, below="30%"))


def test_cache_hit_ceiling(gate: Gate) -> None:
    gate.check(GOAL)
