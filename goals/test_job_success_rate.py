"""Guardrail: job success rate not worse by more than 5 points.

Succeeded / all background job terminal events (`auto_assign.succeeded` vs `.failed` and
`.exhausted`): POST minus BASELINE is above -0.05 (Newcombe's hybrid score interval).
"""

from sprintgate import Better, Gate, Goal, Kind, ProportionChange

GOAL = Goal(
    id="job_success_rate",
    kind=Kind.GUARDRAIL,
    title="Job success rate not worse by > 5 points",
    text=__doc__ or "",
    metric=ProportionChange("job_success", better=Better.HIGHER),
    target=0.05,
)


def test_job_success_rate(gate: Gate) -> None:
    gate.check(GOAL)
