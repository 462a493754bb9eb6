"""The result of judging one goal: the same fields for every goal, guardrail and precondition."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sprintgate.verdict import Interval, Verdict


class Kind(StrEnum):
    """What a goal is for: a sprint goal, a guardrail that must not get worse, or a precondition."""

    GOAL = "goal"
    GUARDRAIL = "guardrail"
    PRECONDITION = "precondition"


@dataclass(frozen=True, slots=True)
class Observation:
    """The metric as measured in one window, and the sample it rests on."""

    value: float | None
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalResult:
    """The verdict on one goal with everything a reviewer needs to check it."""

    goal: str
    kind: Kind
    title: str
    statistic: str
    verdict: Verdict
    estimate: float | None
    interval: Interval | None
    target: float | None
    baseline: Observation
    post: Observation
    reason_code: str | None
    reason: str
    excluded_rows: Mapping[str, int] = field(default_factory=dict)
    more_events_needed: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The one serialisation every report uses (JSON-safe: no NaN, no infinity)."""
        return {
            "id": self.goal,
            "kind": self.kind.value,
            "title": self.title,
            "statistic": self.statistic,
            "verdict": self.verdict.value,
            "baseline": {"value": _finite(self.baseline.value), "n": self.baseline.n},
            "post": {"value": _finite(self.post.value), "n": self.post.n},
            "estimate": _finite(self.estimate),
            "ci": None if self.interval is None else [_finite(self.interval.low), _finite(self.interval.high)],
            "confidence": None if self.interval is None else self.interval.level,
            "target": self.target,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "more_events_needed": self.more_events_needed,
            "excluded_rows": dict(self.excluded_rows),
            "details": dict(self.details),
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
