"""Guardrail: inline timeout rate not worse by more than 5 points.

`inline_auto_assign.timeout` / all inline terminal events: POST minus BASELINE is below +0.05
(Newcombe's hybrid score interval).
"""

from sprintgate import Better, Gate, Goal, Kind, ProportionChange

GOAL = Goal(
    id="inline_timeout_rate",
    kind=Kind.GUARDRAIL,
    title="Inline timeout rate not worse by > 5 points",
    text=__doc__ or "",
    metric=ProportionChange("inline_timeout", better=Better.LOWER),
    target=0.05,
)


def test_inline_timeout_rate(gate: Gate) -> None:
    gate.check(GOAL)
