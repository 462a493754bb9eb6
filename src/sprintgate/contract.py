"""The telemetry contract (docs/telemetry.md) as constants: event types, flags, limits."""

from __future__ import annotations

TABLE = "observability_events"

QUOTE = "auto_assign.quote"
CACHE_HIT = "auto_assign.planner_cache_hit"
ATTEMPT = "auto_assign.attempt"
INLINE_SUCCEEDED = "inline_auto_assign.succeeded"
INLINE_TIMEOUT = "inline_auto_assign.timeout"
INLINE_FAILED = "inline_auto_assign.failed"
JOB_SUCCEEDED = "auto_assign.succeeded"
JOB_FAILED = "auto_assign.failed"
JOB_EXHAUSTED = "auto_assign.exhausted"

INLINE_OUTCOMES = (INLINE_SUCCEEDED, INLINE_TIMEOUT, INLINE_FAILED)
JOB_OUTCOMES = (JOB_SUCCEEDED, JOB_FAILED, JOB_EXHAUSTED)
EVENT_TYPES = (QUOTE, CACHE_HIT, ATTEMPT, *INLINE_OUTCOMES, *JOB_OUTCOMES)
#: Events that measure demand (one per booking job, one per inline run), which the rollout should not
#: change: the basis of the comparability checks.
DEMAND_EVENTS = (*JOB_OUTCOMES, *INLINE_OUTCOMES)

FLAG_NAMES = ("FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2", "PLANNER_CACHE_ENABLED")
ROLLBACK = "FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false"

#: A duration above this (one day, in milliseconds) is a unit or clock error, not a latency.
MAX_DURATION_MS = 86_400_000.0

#: Which event types carry each duration measure.
DURATION_SOURCES: dict[str, tuple[str, ...]] = {
    "planner_duration": (QUOTE,),
    "inline_duration": INLINE_OUTCOMES,
    "job_duration": JOB_OUTCOMES,
}
