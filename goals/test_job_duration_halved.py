"""Background job time-to-success/failure halved.

The p95 of `duration_ms` over background job terminal events (`auto_assign.succeeded`, `.failed`,
`.exhausted`) in POST is at most 0.50 times the p95 in BASELINE.
"""

from sprintgate import Gate, Goal, Kind, QuantileRatio

GOAL = Goal(
    id="job_duration_halved",
    kind=Kind.GOAL,
    title="Background job p95 halved",
    text=__doc__ or "",
    metric=QuantileRatio("job_duration", q=0.95),
    target=0.50,
)


def test_job_duration_halved(gate: Gate) -> None:
    gate.check(GOAL)
