"""Metric kinds: each owns everything about itself.

A kind (one module each: :mod:`.quantile`, :mod:`.rate`, :mod:`.mean`) holds its statistic and
interval, its placebo comparison, its trend check, its minimum sample, its units, its title and its
plot. The engine asks a goal's metric; it never switches on the metric's class.

Every kind returns a :class:`Measurement`: the deciding statistic with an interval whose two ends
hold at the PASS side's and the FAIL side's own error rates (:class:`Errors`), the measured value in
each window, and why there is no interval when there is none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sprintgate.design import Clustering, DesignEffect
from sprintgate.measures import Category, Duration, PerUnit, Rate
from sprintgate.results import Observation
from sprintgate.units import Unit
from sprintgate.verdict import Better, Interval

if TYPE_CHECKING:
    from sprintgate.evidence import Evidence, WindowEvidence
    from sprintgate.results import GoalResult


@dataclass(frozen=True, slots=True)
class Errors:
    """The one-sided error rates a goal's interval ends are computed at.

    ``passing``: the chance of a PASS when the truth sits exactly at the target, after spending it
    across reruns of the same flip (:mod:`sprintgate.looks`). ``failing``: the chance of a FAIL there,
    after sharing it among the guardrails that order a rollback.
    """

    passing: float
    failing: float
    next_passing: float  # the PASS side's error at the next rerun (what a "more events" hint plans for)
    look: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a kind needs besides the evidence: error rates, clustering and the sample rules."""

    errors: Errors
    clustering: Clustering
    min_clusters: int
    confidence: float  # the nominal two-sided level, for the placebo and plain intervals


@dataclass(frozen=True, slots=True)
class Trend:
    """A trend already under way in BASELINE, extrapolated to POST's centre, in the statistic's
    working scale (log for ratios, rate units for differences)."""

    shift: float
    sd: float
    dof: float
    per_day: float
    days: float  # from BASELINE's centre to POST's centre


@dataclass(frozen=True, slots=True, kw_only=True)
class Test:
    """One more limit a metric is judged against besides its primary one (a guardrail bounded both in
    points and as a ratio): every limit must PASS for a PASS, any FAIL is a FAIL."""

    name: str
    estimate: float | None
    interval: Interval | None
    adjusted: Interval | None
    threshold: float
    unit: Unit
    better: Better
    worst: float | None = None  # the estimate had every unread row been the worst case (see Measurement)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """What a metric measured: the deciding statistic, its interval against the threshold, the value
    of the measure in each window, and why there is no interval when there is none."""

    estimate: float | None
    interval: Interval | None
    threshold: float
    baseline: Observation
    post: Observation
    excluded: Mapping[str, int] = field(default_factory=dict)
    problem: tuple[str, str] | None = None  # (reason code, sentence) when there is no interval
    design: Mapping[str, DesignEffect] = field(default_factory=dict)
    adjusted: Interval | None = None  # the interval after the BASELINE trend, for two-window comparisons
    trend: Trend | None = None
    more_events: int | None = None  # events per window for 80 % power at the observed effect
    detectable: float | None = None  # the smallest true value this sample detects with 80 % power
    others: tuple[Test, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    # The estimate had every row the measure could not read (``excluded``) been the worst case for
    # the goal: an unread row of a rate a hit when hits are bad, a duration beyond every value, and so
    # on. ``None`` when no row was left unread; infinite (or 0 for a ratio) when nothing bounds it.
    worst: float | None = None


class Metric(Protocol):
    """A statistic of the evidence with a target, the good side of it, and everything it needs."""

    @property
    def better(self) -> Better: ...

    @property
    def unit(self) -> Unit:
        """The unit of the deciding statistic and its target."""
        ...

    @property
    def comparison(self) -> str:
        """``"ratio"``, ``"difference"`` or ``"level"``: how the statistic relates the windows."""
        ...

    def target(self) -> float: ...

    def with_target(self, text: str) -> Metric:
        """The metric with a target as a person writes it (``0.7``, ``30%``, ``5pt``)."""
        ...

    def title(self) -> str:
        """The goal in a few words, with its target (the title follows ``--target``)."""
        ...

    def statistic(self) -> str:
        """What the deciding number is, in words (``p95 request duration, POST / BASELINE``)."""
        ...

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        """Per window (``BASELINE``, ``POST``) the event types without which it cannot be measured."""
        ...

    def reads(self) -> Reads:
        """The measures (and exact thresholds) the evidence query must compile for this metric."""
        ...

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement: ...

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        """The same comparison within one period (between the halves of a window), each end at
        one-sided error ``alpha``: a significant change there means the method is miscalibrated."""
        ...

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Reads:
    """What a metric reads from the evidence query."""

    durations: tuple[Duration, ...] = ()
    rates: tuple[Rate, ...] = ()
    units: tuple[PerUnit, ...] = ()
    categories: tuple[tuple[Category, tuple[str, ...]], ...] = ()
    budgets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placebo:
    """The placebo comparison: its statistic, interval, the value that means "no change"."""

    statistic: float | None
    interval: Interval | None
    null: float
    period: str  # which window's halves

    @property
    def fired(self) -> bool:
        return self.interval is not None and not self.interval.contains(self.null)


def excluded_of(evidence: Evidence, *measures: str) -> dict[str, int]:
    """Rows each window left out of ``measures``, as ``window.reason`` -> rows."""
    merged: dict[str, int] = {}
    for label, window in evidence.windows():
        for measure in measures:
            for reason, count in window.excluded.get(measure, {}).items():
                key = f"{label.lower()}.{reason}"
                merged[key] = merged.get(key, 0) + count
    return merged


def unread_rows(evidence: Evidence, measure: str) -> dict[str, int]:
    """Rows each window left out of ``measure``, whatever the reason, by window (``BASELINE``, ``POST``)."""
    return {label: sum(window.excluded.get(measure, {}).values()) for label, window in evidence.windows()}


def too_few_clusters(design: Mapping[str, DesignEffect | None], context: Context) -> tuple[str, str] | None:
    """Why the clusters cannot carry an interval, or ``None``."""
    for window, effect in design.items():
        if effect is None:
            continue
        if context.clustering.groups and effect.groups < context.min_clusters:
            return (
                "too_few_clusters",
                f"the {window} window's events come from only {effect.groups} cluster groups, fewer than the "
                f"{context.min_clusters} an interval needs (min_clusters)",
            )
        if not math.isfinite(effect.deff):
            return (
                "too_few_clusters",
                f"the {window} window has too few time slots with events for a time-clustered interval",
            )
    return None


def trend_of(values: np.ndarray, weights: np.ndarray, window: WindowEvidence, days: float) -> Trend | None:
    """The weighted least-squares slope of per-slot ``values`` over time (one intercept per time-of-day
    stratum) in ``window``, extrapolated over ``days``; ``None`` when too few slots carry data."""
    layout = window.layout
    slot_days = window.window.days / layout.slots
    times = (np.arange(layout.slots) + 0.5) * slot_days
    present = (weights > 0) & np.isfinite(values)
    strata = np.arange(layout.slots) % layout.slots_per_day
    x, y, w = [], [], []
    used_strata = 0
    for s in range(layout.slots_per_day):
        mine = present & (strata == s)
        if mine.sum() < 2:
            continue
        used_strata += 1
        ws = weights[mine].astype(np.float64)
        x.append(times[mine] - np.average(times[mine], weights=ws))
        y.append(values[mine] - np.average(values[mine], weights=ws))
        w.append(ws)
    if not x:
        return None
    xs, ys, ws = np.concatenate(x), np.concatenate(y), np.concatenate(w)
    dof = xs.size - used_strata - 1
    sxx = float(np.sum(ws * xs * xs))
    if dof < 2 or sxx <= 0:
        return None
    slope = float(np.sum(ws * xs * ys) / sxx)
    residual = ys - slope * xs
    sigma2 = float(np.sum(ws * residual * residual)) / dof
    sd = math.sqrt(sigma2 / sxx)
    return Trend(shift=slope * days, sd=sd * days, dof=float(dof), per_day=slope, days=days)


def centre_gap_days(evidence: Evidence) -> float:
    """Days from BASELINE's centre to POST's centre."""
    base, post = evidence.baseline.window, evidence.post.window
    centre = (post.start + post.length / 2) - (base.start + base.length / 2)
    return centre.total_seconds() / 86400


def adjusted_for_trend(interval: Interval, estimate: float, trend: Trend, *, log_scale: bool) -> Interval:
    """``interval`` moved by the trend's extrapolated shift and widened by its uncertainty (in
    quadrature, with Student's t at the trend's degrees of freedom), in the statistic's working scale."""

    def scale(value: float) -> float:
        return math.log(value) if log_scale else value

    def unscale(value: float) -> float:
        return math.exp(value) if log_scale else value

    centre = scale(estimate)
    shifted = centre - trend.shift
    alpha_low, alpha_high = 1 - interval.low_confidence, 1 - interval.high_confidence
    from sprintgate import stats  # noqa: PLC0415 - scipy.special is imported by the kinds anyway

    low_width = math.hypot(
        centre - scale(interval.low) if interval.low > 0 or not log_scale else math.inf,
        stats.t(alpha_low, trend.dof) * trend.sd,
    )
    high_width = math.hypot(
        scale(interval.high) - centre if math.isfinite(interval.high) else math.inf,
        stats.t(alpha_high, trend.dof) * trend.sd,
    )
    low = unscale(shifted - low_width) if math.isfinite(low_width) else (0.0 if log_scale else -math.inf)
    high = unscale(shifted + high_width) if math.isfinite(high_width) else math.inf
    return Interval(low, high, interval.low_confidence, interval.high_confidence)
