"""Guardrail: job success rate not worse by more than 5 points.

Succeeded / all background job terminal events (`auto_assign.succeeded` vs `.failed` and
`.exhausted`): POST minus BASELINE is above -5 points.
"""

from goals.rollout import JOB_SUCCESS
from sprintgate import Better, Gate, Goal, Kind, RateChange

GOAL = Goal(
    id="job_success_rate", kind=Kind.GUARDRAIL, metric=RateChange(JOB_SUCCESS, better=Better.HIGHER, points="5pt")
)


def test_job_success_rate(gate: Gate) -> None:
    gate.check(GOAL)
