"""Background job time-to-success/failure halved.

The p95 of `duration_ms` over background job terminal events (`auto_assign.succeeded`, `.failed`,
`.exhausted`) in POST is at most 0.50 times the p95 in BASELINE.
"""

from goals.rollout import JOB_DURATION
from sprintgate import Gate, Goal, QuantileRatio

GOAL = Goal(id="job_duration_halved", metric=QuantileRatio(JOB_DURATION, q=0.95, at_most=0.50))


def test_job_duration_halved(gate: Gate) -> None:
    gate.check(GOAL)
