"""Inline p95 within 2 s.

The p95 of `duration_ms` over the inline auto-assign terminal events (`inline_auto_assign.succeeded`,
`.timeout`, `.failed`) in POST is at most 2000 ms (distribution-free order-statistic interval).
"""

from sprintgate import Gate, Goal, Kind, QuantileBudget

GOAL = Goal(
    id="inline_p95_budget",
    kind=Kind.GOAL,
    title="Inline p95 <= 2 s",
    text=__doc__ or "",
    metric=QuantileBudget("inline_duration", q=0.95),
    target=2000.0,
)


def test_inline_p95_budget(gate: Gate) -> None:
    gate.check(GOAL)
