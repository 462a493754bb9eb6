"""Guardrail: quote error rate not worse by more than 1 point.

`auto_assign.quote` events with an `error` / all quotes: POST minus BASELINE is below +0.01
(Newcombe's hybrid score interval).
"""

from sprintgate import Better, Gate, Goal, Kind, ProportionChange

GOAL = Goal(
    id="quote_error_rate",
    kind=Kind.GUARDRAIL,
    title="Quote error rate not worse by > 1 point",
    text=__doc__ or "",
    metric=ProportionChange("quote_error", better=Better.LOWER),
    target=0.01,
)


def test_quote_error_rate(gate: Gate) -> None:
    gate.check(GOAL)
