"""Inline p95 within 2 s.

At least 95 % of the inline auto-assign runs (`inline_auto_assign.succeeded`, `.timeout`, `.failed`)
in POST take strictly less than 2,000 ms (`duration_ms`). A run recorded at the budget timed out and
misses it.
"""

from goals.rollout import INLINE_DURATION
from sprintgate import Gate, Goal, QuantileBudget

GOAL = Goal(id="inline_p95_budget", metric=QuantileBudget(INLINE_DURATION, q=0.95, below=2000))


def test_inline_p95_budget(gate: Gate) -> None:
    gate.check(GOAL)
