"""Goals: a metric, a target, and the interval that the one decision rule turns into a verdict.

A goal module in ``goals/`` declares a :class:`Goal`; :func:`judge_statistics` measures it on the
evidence of both windows and decides with :func:`sprintgate.verdict.decide`.
:mod:`sprintgate.preconditions` then applies the placebo check and the preconditions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sprintgate import contract, stats
from sprintgate.evidence import Evidence, Proportion, WindowEvidence
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.verdict import Better, Verdict, decide


@dataclass(frozen=True, slots=True, kw_only=True)
class Judging:
    """How to judge: the confidence level, the bootstrap seed and the precondition thresholds."""

    confidence: float = 0.90
    seed: int = stats.DEFAULT_SEED
    min_window_days: float = 7.0
    min_coverage: float = 0.9
    flag_share: float = 0.99
    late_slack_hours: float = 1.0
    max_volume_ratio: float = 1.5
    max_mix_distance: float = 0.1
    max_reason_distance: float = 0.2
    max_restaurant_distance: float = 0.2
    placebo_alpha: float = 0.01


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a metric measured: the statistic with its interval, and the value in each window."""

    estimate: stats.Estimate
    baseline: Observation
    post: Observation
    excluded: Mapping[str, int]


class Metric(Protocol):
    """A statistic of the evidence, with the direction that is good and what it needs."""

    @property
    def better(self) -> Better: ...

    @property
    def statistic(self) -> str: ...

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        """Per window (``BASELINE``, ``POST``) the event types without which it cannot be measured."""
        ...

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement: ...

    def threshold(self, target: float) -> float:
        """Where the decision rule draws the line, for a configured target."""
        ...

    def describe(self, value: float) -> str: ...

    def minimum_sample(self, judging: Judging) -> int: ...


def _both(types: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"BASELINE": types, "POST": types}


def _excluded(evidence: Evidence, measure: str) -> dict[str, int]:
    merged: dict[str, int] = {}
    for window in ("BASELINE", "POST"):
        for reason, count in evidence.window(window).excluded.get(measure, {}).items():
            merged[f"{window.lower()}.{reason}"] = count
    return merged


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def observed_quantile(window: WindowEvidence, measure: str, q: float) -> Observation:
    """The ``q`` quantile of a duration in one window, and its sample size."""
    histogram = window.durations[measure]
    return Observation(histogram.quantile(q) if histogram.n else None, histogram.n)


class _TargetIsThreshold:
    """For metrics whose decision line is the configured target itself."""

    __slots__ = ()

    def threshold(self, target: float) -> float:
        return target


@dataclass(frozen=True, slots=True)
class QuantileRatio(_TargetIsThreshold):
    """``quantile(POST) / quantile(BASELINE)`` of a duration, with the rank bootstrap."""

    measure: str
    q: float = 0.95
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"p{round(100 * self.q)} {self.measure} POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both(contract.DURATION_SOURCES[self.measure])

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = evidence.post.durations[self.measure], evidence.baseline.durations[self.measure]
        estimate = stats.quantile_ratio_interval(post, base, self.q, judging.confidence, seed=judging.seed)
        return Measurement(
            estimate,
            observed_quantile(evidence.baseline, self.measure, self.q),
            observed_quantile(evidence.post, self.measure, self.q),
            _excluded(evidence, self.measure),
        )

    def describe(self, value: float) -> str:
        return f"{value:.3f}"

    def minimum_sample(self, judging: Judging) -> int:
        return stats.minimum_sample_for_quantile(self.q, judging.confidence)


@dataclass(frozen=True, slots=True)
class QuantileBudget(_TargetIsThreshold):
    """``quantile(POST)`` of a duration against an absolute budget, with the order-statistic interval."""

    measure: str
    q: float = 0.95
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"p{round(100 * self.q)} {self.measure} in POST (ms)"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": contract.DURATION_SOURCES[self.measure]}

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        estimate = stats.quantile_interval(evidence.post.durations[self.measure], self.q, judging.confidence)
        return Measurement(
            estimate,
            observed_quantile(evidence.baseline, self.measure, self.q),
            observed_quantile(evidence.post, self.measure, self.q),
            _excluded(evidence, self.measure),
        )

    def describe(self, value: float) -> str:
        return _ms(value)

    def minimum_sample(self, judging: Judging) -> int:
        return stats.minimum_sample_for_quantile(self.q, judging.confidence)


@dataclass(frozen=True, slots=True)
class MeanRatio(_TargetIsThreshold):
    """``mean(POST) / mean(BASELINE)`` with the booking as the unit (delta method)."""

    measure: str = "attempts_per_booking"
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"mean {self.measure} POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both((contract.ATTEMPT,))

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = evidence.post.attempts_per_booking.moments(), evidence.baseline.attempts_per_booking.moments()
        estimate = stats.mean_ratio_interval(post, base, judging.confidence)
        return Measurement(
            estimate,
            Observation(base.mean if base.n else None, base.n),
            Observation(post.mean if post.n else None, post.n),
            _excluded(evidence, self.measure),
        )

    def describe(self, value: float) -> str:
        return f"{value:.3f}"

    def minimum_sample(self, judging: Judging) -> int:
        return 2


#: Per rate: the evidence field that holds it and the event types it is counted over.
_PROPORTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cache_hit": ("cache_hit", (contract.QUOTE,)),
    "quote_error": ("quote_error", (contract.QUOTE,)),
    "job_success": ("job_success", contract.JOB_OUTCOMES),
    "inline_timeout": ("inline_timeout", contract.INLINE_OUTCOMES),
}


def proportion_of(window: WindowEvidence, measure: str) -> Proportion:
    value = getattr(window, _PROPORTIONS[measure][0])
    assert isinstance(value, Proportion)
    return value


@dataclass(frozen=True, slots=True)
class ProportionCeiling(_TargetIsThreshold):
    """A rate in POST against a ceiling, with Wilson's interval."""

    measure: str
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"{self.measure} rate in POST"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": _PROPORTIONS[self.measure][1]}

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = proportion_of(evidence.post, self.measure), proportion_of(evidence.baseline, self.measure)
        return Measurement(
            stats.wilson_interval(post.hits, post.n, judging.confidence),
            Observation(base.rate, base.n),
            Observation(post.rate, post.n),
            _excluded(evidence, self.measure),
        )

    def describe(self, value: float) -> str:
        return _pct(value)

    def minimum_sample(self, judging: Judging) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class ProportionChange:
    """``rate(POST) - rate(BASELINE)`` against a non-inferiority margin, with Newcombe's interval.

    The target is the margin in rate units (0.05 = 5 points); which way is worse follows ``better``.
    """

    measure: str
    better: Better

    @property
    def statistic(self) -> str:
        return f"{self.measure} rate POST - BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both(_PROPORTIONS[self.measure][1])

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = proportion_of(evidence.post, self.measure), proportion_of(evidence.baseline, self.measure)
        return Measurement(
            stats.proportion_difference_interval(post.hits, post.n, base.hits, base.n, judging.confidence),
            Observation(base.rate, base.n),
            Observation(post.rate, post.n),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return -target if self.better is Better.HIGHER else target

    def describe(self, value: float) -> str:
        return f"{100 * value:+.1f} points"

    def minimum_sample(self, judging: Judging) -> int:
        return 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """One goal of the rollout, as a module in ``goals/`` declares it."""

    id: str
    kind: Kind
    title: str
    text: str
    metric: Metric
    target: float

    def with_target(self, target: float) -> Goal:
        return Goal(id=self.id, kind=self.kind, title=self.title, text=self.text, metric=self.metric, target=target)


def _more_events(measurement: Measurement, threshold: float, better: Better, n: int, log_scale: bool) -> int | None:
    """Roughly how many more events per window would likely give a decision: the interval narrows
    as 1/sqrt(n), so it needs (half width / distance to the threshold)^2 times the sample."""
    interval, point = measurement.estimate.interval, measurement.estimate.statistic
    if interval is None or point is None or n == 0:
        return None

    def transform(value: float) -> float:
        return math.log(max(value, 1e-12)) if log_scale else value

    distance = abs(transform(point) - transform(threshold))
    side = interval.high if (point <= threshold) == (better is Better.LOWER) else interval.low
    half_width = abs(transform(side) - transform(point))
    if distance == 0 or half_width == 0:
        return None
    return max(0, math.ceil(n * (half_width / distance) ** 2) - n)


def judge_statistics(goal: Goal, evidence: Evidence, judging: Judging) -> GoalResult:
    """The verdict of ``goal`` from its interval alone, before preconditions."""
    metric = goal.metric
    measurement = metric.evaluate(evidence, judging)
    threshold = metric.threshold(goal.target)
    estimate = measurement.estimate
    n = min(measurement.baseline.n, measurement.post.n) if "BASELINE" in metric.needs() else measurement.post.n

    def result(verdict: Verdict, reason_code: str | None, reason: str, more: int | None = None) -> GoalResult:
        return GoalResult(
            goal=goal.id,
            kind=goal.kind,
            title=goal.title,
            statistic=metric.statistic,
            verdict=verdict,
            estimate=estimate.statistic,
            interval=estimate.interval,
            target=goal.target,
            baseline=measurement.baseline,
            post=measurement.post,
            reason_code=reason_code,
            reason=reason,
            excluded_rows=measurement.excluded,
            more_events_needed=more,
            details={"threshold": threshold},
        )

    if estimate.statistic is None:
        empty = [w for w in metric.needs() if (measurement.baseline if w == "BASELINE" else measurement.post).n == 0]
        plural = "s" if len(empty) > 1 else ""
        return result(
            Verdict.INCONCLUSIVE,
            "no_data",
            f"No usable values for {metric.statistic} in the {' and '.join(empty)} window{plural}.",
        )
    if estimate.interval is None:
        needed = metric.minimum_sample(judging)
        return result(
            Verdict.INCONCLUSIVE,
            "insufficient_sample",
            f"{metric.describe(estimate.statistic)} from too small a sample for a finite "
            f"{judging.confidence:.0%} interval: n = {n}, at least {needed} per window needed.",
            max(0, needed - n),
        )
    verdict = decide(estimate.interval, threshold, metric.better)
    interval = estimate.interval
    shown = (
        f"{metric.describe(estimate.statistic)} ({interval.level:.0%} CI "
        f"{metric.describe(interval.low)} to {metric.describe(interval.high)})"
    )
    limit = metric.describe(threshold)
    if verdict is Verdict.PASS:
        return result(verdict, None, f"{shown}: the whole interval is on the good side of {limit}.")
    if verdict is Verdict.FAIL:
        return result(verdict, "target_missed", f"{shown}: the whole interval is on the wrong side of {limit}.")
    more = _more_events(measurement, threshold, metric.better, n, isinstance(metric, QuantileRatio | MeanRatio))
    hint = f"; about {more:,} more events per window would likely decide it" if more else ""
    return result(verdict, "straddles_target", f"{shown} straddles {limit}{hint}.", more)


def placebo_estimate(
    metric: Metric, first: WindowEvidence, second: WindowEvidence, level: float, seed: int
) -> tuple[stats.Estimate, float]:
    """The change in ``metric``'s measure from the first to the second half of BASELINE, and the value
    that means "no change". Ratios for durations and means, differences for rates."""
    if isinstance(metric, QuantileRatio | QuantileBudget):
        return stats.quantile_ratio_interval(
            second.durations[metric.measure], first.durations[metric.measure], metric.q, level, seed=seed
        ), 1.0
    if isinstance(metric, MeanRatio):
        return stats.mean_ratio_interval(
            second.attempts_per_booking.moments(), first.attempts_per_booking.moments(), level
        ), 1.0
    if isinstance(metric, ProportionCeiling | ProportionChange):
        a, b = proportion_of(second, metric.measure), proportion_of(first, metric.measure)
        return stats.proportion_difference_interval(a.hits, a.n, b.hits, b.n, level), 0.0
    raise TypeError(f"sprintgate: no placebo comparison for {type(metric).__name__}")
