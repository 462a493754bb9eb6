"""The result of judging one check: the same fields for every goal, guardrail and precondition.

The verdict travels as this structure to every report (terminal, JSON, Markdown, CSV, Allure, plots);
nothing is parsed back out of message text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sprintgate.units import Unit
from sprintgate.verdict import Better, Interval, Verdict


class Kind(StrEnum):
    """What a check is for: a sprint goal, a guardrail that must not get worse, or a precondition."""

    GOAL = "goal"
    GUARDRAIL = "guardrail"
    PRECONDITION = "precondition"


@dataclass(frozen=True, slots=True)
class Observation:
    """The measure as observed in one window, and the sample it rests on."""

    value: float | None
    n: int


NOTHING = Observation(None, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalResult:
    """The verdict on one check with everything a reviewer needs to check it.

    ``estimate``, ``interval`` and ``target`` are in ``unit`` (the deciding statistic: a ratio, a
    share, a difference in points); ``baseline`` and ``post`` are the measure itself in each window,
    in ``value_unit`` (milliseconds, a rate, retries per request).
    """

    goal: str
    kind: Kind
    title: str
    measured: str
    verdict: Verdict
    estimate: float | None
    interval: Interval | None
    target: float | None
    better: Better | None
    unit: Unit
    value_unit: Unit
    baseline: Observation
    post: Observation
    reason_code: str | None
    reason: str
    advisory: bool = False
    excluded_rows: Mapping[str, int] = field(default_factory=dict)
    more_events_needed: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """Whether this check decides the promotion (advisory goals are judged and reported only)."""
        return not self.advisory

    def shown(self, value: float | None) -> str:
        return self.unit.format(value)

    def to_dict(self) -> dict[str, Any]:
        """The one serialisation every report uses (JSON-safe: no NaN, no infinity)."""
        interval = self.interval
        return {
            "id": self.goal,
            "kind": self.kind.value,
            "title": self.title,
            "measured": self.measured,
            "verdict": self.verdict.value,
            "advisory": self.advisory,
            "unit": self.unit.name,
            "value_unit": self.value_unit.name,
            "estimate": _finite(self.estimate),
            "interval": None
            if interval is None
            else {
                "low": _finite(interval.low),
                "high": _finite(interval.high),
                "low_confidence": interval.low_confidence,
                "high_confidence": interval.high_confidence,
            },
            "target": _finite(self.target),
            "better": None if self.better is None else self.better.value,
            "shown": {
                "estimate": self.unit.format(self.estimate),
                "interval": None
                if interval is None
                else [self.unit.format(interval.low), self.unit.format(interval.high)],
                "target": self.unit.format(self.target),
                "baseline": self.value_unit.format(self.baseline.value),
                "post": self.value_unit.format(self.post.value),
            },
            "baseline": {"value": _finite(self.baseline.value), "n": self.baseline.n},
            "post": {"value": _finite(self.post.value), "n": self.post.n},
            "reason_code": self.reason_code,
            "reason": self.reason,
            "more_events_needed": self.more_events_needed,
            "excluded_rows": dict(self.excluded_rows),
            "details": _json_safe(dict(self.details)),
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
