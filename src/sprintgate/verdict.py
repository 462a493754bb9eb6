"""Verdicts, intervals and the one rule that turns an interval and a target into a verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """What the gate answers for one goal."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Better(StrEnum):
    """Which side of the target is the good side."""

    LOWER = "lower"
    HIGHER = "higher"


@dataclass(frozen=True, slots=True)
class Interval:
    """A two-sided confidence interval ``[low, high]`` at ``level``."""

    low: float
    high: float
    level: float

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ValueError(f"an interval needs low <= high, got [{self.low}, {self.high}]")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"a confidence level lies strictly between 0 and 1, got {self.level}")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def decide(interval: Interval, target: float, better: Better) -> Verdict:
    """PASS when the whole interval lies on the good side of the target, FAIL when it lies on the wrong
    side, INCONCLUSIVE when it touches or straddles the target.

    This is the only place in sprintgate that turns numbers into a verdict.
    """
    if better is Better.LOWER:
        good, bad = interval.high < target, interval.low > target
    else:
        good, bad = interval.low > target, interval.high < target
    if good:
        return Verdict.PASS
    if bad:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE
