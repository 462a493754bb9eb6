"""Guardrail: quote error rate not worse by more than 1 point, nor more than half again.

`auto_assign.quote` events with an `error` message / all quotes: POST minus BASELINE is below +1 point,
and POST is at most 1.5 times BASELINE (a rare rate that rises eight-fold is breached even under a
point).
"""

from goals.rollout import QUOTE_ERRORS
from sprintgate import Better, Gate, Goal, Kind, RateChange

GOAL = Goal(
    id="quote_error_rate",
    kind=Kind.GUARDRAIL,
    metric=RateChange(QUOTE_ERRORS, better=Better.LOWER, points="1pt", ratio=1.5),
)


def test_quote_error_rate(gate: Gate) -> None:
    gate.check(GOAL)
