"""What a straddling interval needs: events for 80 % power at the observed effect, and the smallest
true value the current sample detects with 80 % power."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sprintgate import stats
from sprintgate.verdict import Better, Interval

POWER = 0.80


@dataclass(frozen=True, slots=True)
class Hint:
    """``more_events``: events to add per window so a rerun PASSes with 80 % power if the effect is
    as observed (``None`` when the estimate is on the wrong side of the target); ``detectable``: the
    true value at which this sample PASSes with 80 % power."""

    more_events: int | None
    detectable: float | None


def power_hint(
    *,
    estimate: float,
    interval: Interval,
    target: float,
    better: Better,
    log_scale: bool,
    n: int,
    next_alpha: float,
) -> Hint:
    """From the PASS-side end of ``interval``: its standard error, then the sample that would put the
    target ``z(next_alpha) + z(0.2)`` standard errors from the estimate (errors shrink as 1/sqrt(n))."""

    def scale(value: float) -> float:
        return math.log(value) if log_scale else value

    def unscale(value: float) -> float:
        return math.exp(value) if log_scale else value

    lower = better is Better.LOWER
    end = interval.high if lower else interval.low
    confidence = interval.high_confidence if lower else interval.low_confidence
    if (log_scale and (estimate <= 0 or end <= 0 or target <= 0)) or not math.isfinite(end):
        return Hint(None, None)
    error = abs(scale(end) - scale(estimate)) / stats.z(1 - confidence)
    if error == 0 or n <= 0:
        return Hint(None, None)
    power = stats.z(1 - POWER)
    side = -1.0 if lower else 1.0
    detectable = unscale(scale(target) + side * (stats.z(1 - confidence) + power) * error)
    distance = (scale(target) - scale(estimate)) * (1 if lower else -1)
    if distance <= 0:
        return Hint(None, detectable)
    factor = ((stats.z(next_alpha) + power) * error / distance) ** 2
    return Hint(max(0, math.ceil(n * factor) - n), detectable)
