"""Guardrail: inline timeout rate not worse by more than 5 points.

`inline_auto_assign.timeout` / all inline terminal events: POST minus BASELINE is below +5 points.
"""

from goals.rollout import INLINE_TIMEOUTS
from sprintgate import Better, Gate, Goal, Kind, RateChange

GOAL = Goal(
    id="inline_timeout_rate", kind=Kind.GUARDRAIL, metric=RateChange(INLINE_TIMEOUTS, better=Better.LOWER, points="5pt")
)


def test_inline_timeout_rate(gate: Gate) -> None:
    gate.check(GOAL)
