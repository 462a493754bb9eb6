"""Guardrail: checkout conversion not down by more than 1 point.

`checkout.completed` / all checkout outcomes (`checkout.completed`, `.abandoned`, `.failed`): POST
minus BASELINE is above -1 point. A breach orders the rollback.
"""

from sprintgate import Better, Gate, Goal, Kind, RateChange

from goals.checkout import CONVERSION

GOAL = Goal(
    id="conversion_rate", kind=Kind.GUARDRAIL, metric=RateChange(CONVERSION, better=Better.HIGHER, points="1pt")
)


def test_conversion_rate(gate: Gate) -> None:
    gate.check(GOAL)
