"""Verdicts, intervals and the one rule that turns an interval and a threshold into a verdict."""

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
    """Which side of the threshold is the good side."""

    LOWER = "lower"
    HIGHER = "higher"


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]`` whose ends each hold at their own one-sided confidence.

    A symmetric 90 % interval has ``low_confidence = high_confidence = 0.95``. The two ends differ
    when a goal spends its error across reruns (the PASS side) or across guardrails (the FAIL side).
    """

    low: float
    high: float
    low_confidence: float
    high_confidence: float

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ValueError(f"an interval needs low <= high, got [{self.low}, {self.high}]")
        for confidence in (self.low_confidence, self.high_confidence):
            if not 0.5 <= confidence < 1.0:
                raise ValueError(f"a one-sided confidence lies in [0.5, 1), got {confidence}")

    @classmethod
    def two_sided(cls, low: float, high: float, level: float) -> Interval:
        """An interval whose two ends together hold at ``level`` (both ends at ``(1 + level) / 2``)."""
        return cls(low, high, (1 + level) / 2, (1 + level) / 2)

    @property
    def level(self) -> float:
        """The two-sided confidence the ends hold at together (Bonferroni: ``1 - both error rates``)."""
        return self.low_confidence + self.high_confidence - 1

    @property
    def symmetric(self) -> bool:
        return math.isclose(self.low_confidence, self.high_confidence)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def good_end(self, better: Better) -> float:
        """The end that must clear the threshold for a PASS."""
        return self.high if better is Better.LOWER else self.low


def decide(interval: Interval, threshold: float, better: Better) -> Verdict:
    """PASS when the whole interval lies on the good side of the threshold, FAIL when it lies on the
    wrong side, INCONCLUSIVE when it touches or straddles the threshold.

    This is the only place in sprintgate that turns numbers into a verdict. Each end carries its own
    confidence, so the PASS side and the FAIL side can hold at different error rates.
    """
    if better is Better.LOWER:
        good, bad = interval.high < threshold, interval.low > threshold
    else:
        good, bad = interval.low > threshold, interval.high < threshold
    if good:
        return Verdict.PASS
    if bad:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE
