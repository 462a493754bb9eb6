"""The auto-assign rollout: its event types, measures, flags and the rollout document's metric table.

Declared once here and used by the goal modules beside it (one module per goal). The rollout
document: enable FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2 and PLANNER_CACHE_ENABLED, confirm the sprint
goals in staging, then in production; roll back by turning the retry policy off.
"""

from __future__ import annotations

from goals.demo import AutoAssignDemo
from sprintgate import (
    Category,
    Duration,
    EventIs,
    FieldPresent,
    FieldTrue,
    Mean,
    Mix,
    PerUnit,
    Quantile,
    Rate,
    Row,
    Share,
    Suite,
    UnitQuantile,
)

QUOTE = "auto_assign.quote"
CACHE_HIT = "auto_assign.planner_cache_hit"
ATTEMPT = "auto_assign.attempt"
INLINE_OUTCOMES = ("inline_auto_assign.succeeded", "inline_auto_assign.timeout", "inline_auto_assign.failed")
JOB_OUTCOMES = ("auto_assign.succeeded", "auto_assign.failed", "auto_assign.exhausted")
REASONS = Category("reasonCode", ("hard.no_capacity", "transient.hold_conflict"))

PLANNER_DURATION = Duration("planner_duration", events=(QUOTE,), field="planner_duration_ms")
INLINE_DURATION = Duration("inline_duration", events=INLINE_OUTCOMES, field="duration_ms")
JOB_DURATION = Duration("job_duration", events=JOB_OUTCOMES, field="duration_ms", label="background job duration")
ATTEMPTS_PER_BOOKING = PerUnit("attempts_per_booking", events=(ATTEMPT,), unit="booking_id", counts="attempts")
CACHE_HITS = Rate("cache_hit", events=(QUOTE,), hit=FieldTrue("cache_hit"), label="planner cache hit")
QUOTE_ERRORS = Rate("quote_error", events=(QUOTE,), hit=FieldPresent("error", "string"))
JOB_SUCCESS = Rate("job_success", events=JOB_OUTCOMES, hit=EventIs("auto_assign.succeeded"))
INLINE_TIMEOUTS = Rate("inline_timeout", events=INLINE_OUTCOMES, hit=EventIs("inline_auto_assign.timeout"))

SUITE = Suite(
    name="Auto-assign: retry policy v2 + planner cache",
    flags=("FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2", "PLANNER_CACHE_ENABLED"),
    rollback="set FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false, as the rollout document says",
    demand=(*JOB_OUTCOMES, *INLINE_OUTCOMES),
    cluster="restaurant_id",
    columns={"booking_id": "uuid", "restaurant_id": "uuid"},
    mixes=(Mix("attempt_reasons", events=(ATTEMPT,), category=REASONS),),
    report=(
        Row("Planner p50", Quantile(PLANNER_DURATION, 0.50)),
        Row("Planner p90", Quantile(PLANNER_DURATION, 0.90)),
        Row("Planner p95", Quantile(PLANNER_DURATION, 0.95), goal="planner_p95_reduction"),
        Row("Planner p99", Quantile(PLANNER_DURATION, 0.99)),
        Row("Avg attempts / booking", Mean(ATTEMPTS_PER_BOOKING), goal="attempts_per_booking_reduction"),
        Row("Attempt p95", UnitQuantile(ATTEMPTS_PER_BOOKING, 0.95)),
        Row("Inline timeout %", Share(INLINE_TIMEOUTS), goal="inline_timeout_rate"),
        Row("Inline duration p95", Quantile(INLINE_DURATION, 0.95), goal="inline_p95_budget"),
        Row("Background job p95", Quantile(JOB_DURATION, 0.95), goal="job_duration_halved"),
        Row("Job success rate", Share(JOB_SUCCESS), goal="job_success_rate"),
        Row("Quote error %", Share(QUOTE_ERRORS), goal="quote_error_rate"),
        Row("Cache hit %", Share(CACHE_HITS, by=REASONS), goal="cache_hit_ceiling"),
    ),
    demo=AutoAssignDemo(),
)
