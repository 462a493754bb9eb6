"""Rates: a ceiling or a floor in POST, a change between windows (guardrails), and report-only shares.

Intervals are Wilson's score interval (one rate), Newcombe's hybrid score interval (a difference in
points) and the Koopman score interval (a ratio), each on the effective sample size that the rate's
clustered design effect leaves (:mod:`sprintgate.design`). A guardrail may bound the change in points
and as a ratio: a rare rate that rises eight-fold is breached even when it rises by less than a point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from sprintgate import stats
from sprintgate.design import DesignEffect, indicator_design_effect
from sprintgate.evidence import CellRate, Evidence, WindowEvidence
from sprintgate.kinds import (
    Context,
    Measurement,
    Placebo,
    Reads,
    Test,
    Trend,
    adjusted_for_trend,
    centre_gap_days,
    excluded_of,
    too_few_clusters,
    trend_of,
    unread_rows,
)
from sprintgate.kinds.power import power_hint
from sprintgate.measures import Category, DeclarationError, Rate
from sprintgate.results import GoalResult, Observation
from sprintgate.units import PERCENT, POINTS, RATIO, Unit
from sprintgate.verdict import Better, Interval

#: The fewest effective events a rate needs in a window before its score interval is trusted
#: (bench/calibration.py: rare rates, 0.1 % to 1 %, hold their level from there on).
MIN_EVENTS = 30


def _spelled(value: float | str, unit: Unit, owner: str) -> float:
    """A target as declared: a number in the engine's scale is refused for % and points (``0.3`` could
    mean 0.3 % or 30 %); write ``"30%"`` or ``"5pt"``."""
    if isinstance(value, str):
        try:
            return unit.parse(value)
        except ValueError as error:
            raise DeclarationError(f"sprintgate: {owner}: {error}.") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DeclarationError(f"sprintgate: {owner}: {value!r} is not a target.")
    if unit.requires_spelling:
        raise DeclarationError(
            f"sprintgate: {owner}: write the target with its unit, e.g. {unit.format(unit.parse_example())!r}, not {value!r}."
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class RateSample:
    """One window's rate with its design effect."""

    hits: float
    n: float
    design: DesignEffect | None

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    def effective(self, alpha: float) -> float:
        effect = self.design or DesignEffect.independent()
        return effect.effective(self.n, alpha)


def worst_rate(sample: RateSample, unread: int, *, hits_are_bad: bool) -> float | None:
    """The rate had ``unread`` more events been read, all hits when hits are bad, all misses otherwise."""
    total = sample.n + unread
    if not total:
        return None
    return (sample.hits + (unread if hits_are_bad else 0)) / total


def rate_sample(cells: CellRate, window: WindowEvidence, context: Context) -> RateSample:
    design = indicator_design_effect(cells.hits, cells.n, window.layout, context.clustering) if cells.n.sum() else None
    hits, n = cells.total
    return RateSample(float(hits), float(n), design)


def _short(found: RateSample, alphas: tuple[float, ...]) -> bool:
    return any(found.effective(a) < MIN_EVENTS for a in alphas)


def _common_problem(
    samples: Mapping[str, RateSample], context: Context, alphas: tuple[float, ...]
) -> tuple[str, str] | None:
    empty = [w for w, s in samples.items() if s.n == 0]
    if empty:
        return "no_data", f"no usable events in the {' and '.join(empty)} window{'s' if len(empty) > 1 else ''}"
    crowded = too_few_clusters({w: s.design for w, s in samples.items()}, context)
    if crowded:
        return crowded
    for window, found in samples.items():
        if _short(found, alphas):
            return (
                "insufficient_sample",
                f"the {window} window has {found.n:,.0f} events, about {found.effective(min(alphas)):,.0f} effective "
                f"once clustering is counted; a rate needs at least {MIN_EVENTS} effective events",
            )
    return None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate in POST under a ceiling (``below``) or over a floor (``above``), with Wilson's interval."""

    measure: Rate
    below: float | str | None = None
    above: float | str | None = None

    def __post_init__(self) -> None:
        owner = f"rate limit on {self.measure.name}"
        if (self.below is None) == (self.above is None):
            raise DeclarationError(f"sprintgate: {owner} needs exactly one of below or above.")
        for name in ("below", "above"):
            value = getattr(self, name)
            if value is not None:
                parsed = _spelled(value, PERCENT, owner)
                if not 0 < parsed < 1:
                    raise DeclarationError(
                        f"sprintgate: {owner}: {name} must lie strictly between 0 % and 100 %, got {PERCENT.format(parsed)}."
                    )
                object.__setattr__(self, name, parsed)

    @property
    def better(self) -> Better:
        return Better.LOWER if self.below is not None else Better.HIGHER

    @property
    def unit(self) -> Unit:
        return PERCENT

    @property
    def value_unit(self) -> Unit:
        return PERCENT

    @property
    def comparison(self) -> str:
        return "level"

    def target(self) -> float:
        return float(self.below if self.below is not None else self.above)  # type: ignore[arg-type]

    def with_target(self, text: str) -> RateLimit:
        return replace(self, below=text) if self.below is not None else replace(self, above=text)

    def title(self) -> str:
        side = "under" if self.better is Better.LOWER else "over"
        return f"{self.measure.words} rate {side} {PERCENT.format(self.target())}"

    def statistic(self) -> str:
        return f"{self.measure.words} rate in POST"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": self.measure.events}

    def reads(self) -> Reads:
        return Reads(rates=(self.measure,))

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement:
        samples = {w: rate_sample(e.rates[self.measure.name], e, context) for w, e in evidence.windows()}
        post = samples["POST"]
        errors = context.errors
        low_alpha, high_alpha = (
            (errors.failing, errors.passing) if self.better is Better.LOWER else (errors.passing, errors.failing)
        )
        outline = Measurement(
            estimate=None,
            interval=None,
            threshold=self.target(),
            baseline=Observation(samples["BASELINE"].rate, int(samples["BASELINE"].n)),
            post=Observation(post.rate, int(post.n)),
            excluded=excluded_of(evidence, self.measure.name),
            design={} if post.design is None else {"POST": post.design},
        )
        problem = _common_problem({"POST": post}, context, (low_alpha, high_alpha))
        if problem:
            return replace(outline, estimate=post.rate, interval=None, problem=problem)
        rate = post.rate or 0.0
        unread = unread_rows(evidence, self.measure.name)["POST"]
        worst = worst_rate(post, unread, hits_are_bad=self.better is Better.LOWER) if unread else None
        low, _ = stats.wilson(rate * post.effective(low_alpha), post.effective(low_alpha), low_alpha)
        _, high = stats.wilson(rate * post.effective(high_alpha), post.effective(high_alpha), high_alpha)
        interval = Interval(low, high, 1 - low_alpha, 1 - high_alpha)
        hint = power_hint(
            estimate=rate,
            interval=interval,
            target=self.target(),
            better=self.better,
            log_scale=False,
            n=int(post.n),
            next_alpha=errors.next_passing,
        )
        return replace(
            outline,
            estimate=rate,
            interval=interval,
            worst=worst,
            more_events=hint.more_events,
            detectable=hint.detectable,
        )

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        return _difference_placebo(evidence.post, self.measure.name, context, alpha, "POST")

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.rates(result, evidence, self.measure.name)


def _difference_placebo(
    window: WindowEvidence, measure: str, context: Context, alpha: float, period: str
) -> Placebo | None:
    first, second = (rate_sample(window.half(i).rates[measure], window.half(i), context) for i in (0, 1))
    if first.n == 0 or second.n == 0 or _short(first, (alpha,)) or _short(second, (alpha,)):
        return None
    low, high = stats.newcombe(
        second.rate or 0.0, second.effective(alpha), first.rate or 0.0, first.effective(alpha), alpha, alpha
    )
    return Placebo((second.rate or 0.0) - (first.rate or 0.0), Interval(low, high, 1 - alpha, 1 - alpha), 0.0, period)


@dataclass(frozen=True, slots=True)
class RateChange:
    """A rate that must not get worse from BASELINE to POST by more than ``points`` (an absolute
    change) and, when given, by more than a factor ``ratio`` (POST at most ``ratio`` x BASELINE when
    lower is better, at least ``ratio`` x BASELINE when higher is better)."""

    measure: Rate
    better: Better
    points: float | str | None = None
    ratio: float | str | None = None

    def __post_init__(self) -> None:
        owner = f"rate change of {self.measure.name}"
        if not isinstance(self.better, Better):
            raise DeclarationError(f"sprintgate: {owner}: better must be Better.LOWER or Better.HIGHER.")
        if self.points is None and self.ratio is None:
            raise DeclarationError(f"sprintgate: {owner} needs points, ratio or both.")
        if self.points is not None:
            points = _spelled(self.points, POINTS, owner)
            if not 0 < points < 1:
                raise DeclarationError(
                    f"sprintgate: {owner}: points must lie between 0 and 100 points, got {POINTS.format(points)}."
                )
            object.__setattr__(self, "points", points)
        if self.ratio is not None:
            ratio = _spelled(self.ratio, RATIO, owner)
            if (
                not ratio > 0
                or (self.better is Better.LOWER and ratio < 1)
                or (self.better is Better.HIGHER and ratio > 1)
            ):
                side = "at least x1" if self.better is Better.LOWER else "between x0 and x1"
                raise DeclarationError(
                    f"sprintgate: {owner}: ratio must be {side} (how much worse POST may be), got {ratio!r}."
                )
            object.__setattr__(self, "ratio", ratio)

    @property
    def unit(self) -> Unit:
        return POINTS if self.points is not None else RATIO

    @property
    def value_unit(self) -> Unit:
        return PERCENT

    @property
    def comparison(self) -> str:
        return "difference" if self.points is not None else "ratio"

    def _sign(self) -> float:
        return 1.0 if self.better is Better.LOWER else -1.0

    def target(self) -> float:
        if self.points is not None:
            return self._sign() * float(self.points)
        return float(self.ratio)  # type: ignore[arg-type]

    def with_target(self, text: str) -> RateChange:
        if text.strip().lower().endswith("x") or text.strip().lower().startswith("x"):
            return replace(self, ratio=text)
        return replace(self, points=text)

    def title(self) -> str:
        parts = []
        if self.points is not None:
            parts.append(f"by more than {POINTS.format(float(self.points)).lstrip('+')}")
        if self.ratio is not None:
            parts.append(f"beyond {RATIO.format(float(self.ratio))}")
        direction = "up" if self.better is Better.LOWER else "down"
        return f"{self.measure.words} rate not {direction} {' or '.join(parts)}"

    def statistic(self) -> str:
        if self.points is not None:
            return f"{self.measure.words} rate, POST - BASELINE"
        return f"{self.measure.words} rate, POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"BASELINE": self.measure.events, "POST": self.measure.events}

    def reads(self) -> Reads:
        return Reads(rates=(self.measure,))

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement:
        samples = {w: rate_sample(e.rates[self.measure.name], e, context) for w, e in evidence.windows()}
        base, post = samples["BASELINE"], samples["POST"]
        errors = context.errors
        low_alpha, high_alpha = (
            (errors.failing, errors.passing) if self.better is Better.LOWER else (errors.passing, errors.failing)
        )
        difference = None if base.rate is None or post.rate is None else post.rate - base.rate
        quotient = None if not base.rate or post.rate is None else post.rate / base.rate
        outline = Measurement(
            estimate=None,
            interval=None,
            threshold=self.target(),
            baseline=Observation(base.rate, int(base.n)),
            post=Observation(post.rate, int(post.n)),
            excluded=excluded_of(evidence, self.measure.name),
            design={w: s.design for w, s in samples.items() if s.design is not None},
        )
        primary_estimate = difference if self.points is not None else quotient
        problem = _common_problem(samples, context, (low_alpha, high_alpha))
        if problem:
            return replace(outline, estimate=primary_estimate, interval=None, threshold=self.target(), problem=problem)
        assert base.rate is not None
        assert post.rate is not None
        assert difference is not None
        trend = self._trend(evidence, context)
        unread = unread_rows(evidence, self.measure.name)
        worst_difference = worst_quotient = None
        if any(unread.values()):
            # Worst for the goal: POST's unread events all bad, BASELINE's all good.
            bad = self.better is Better.LOWER
            worst_post = worst_rate(post, unread["POST"], hits_are_bad=bad) or 0.0
            worst_base = worst_rate(base, unread["BASELINE"], hits_are_bad=not bad) or 0.0
            worst_difference = worst_post - worst_base
            worst_quotient = worst_post / worst_base if worst_base else (math.inf if bad else 0.0)
        tests = []
        if self.points is not None:
            low, _ = stats.newcombe(
                post.rate, post.effective(low_alpha), base.rate, base.effective(low_alpha), low_alpha, low_alpha
            )
            _, high = stats.newcombe(
                post.rate, post.effective(high_alpha), base.rate, base.effective(high_alpha), high_alpha, high_alpha
            )
            interval = Interval(low, high, 1 - low_alpha, 1 - high_alpha)
            adjusted = None if trend is None else adjusted_for_trend(interval, difference, trend, log_scale=False)
            tests.append(
                Test(
                    name="points",
                    estimate=difference,
                    interval=interval,
                    adjusted=adjusted,
                    threshold=self._sign() * float(self.points),
                    unit=POINTS,
                    better=self.better,
                    worst=worst_difference,
                )
            )
        if self.ratio is not None:
            low, _ = stats.rate_ratio(
                post.rate, post.effective(low_alpha), base.rate, base.effective(low_alpha), low_alpha, low_alpha
            )
            _, high = stats.rate_ratio(
                post.rate, post.effective(high_alpha), base.rate, base.effective(high_alpha), high_alpha, high_alpha
            )
            interval = Interval(low, max(low, high), 1 - low_alpha, 1 - high_alpha)
            adjusted = None
            if trend is not None and quotient:
                relative = (
                    Trend(
                        trend.shift / base.rate, trend.sd / base.rate, trend.dof, trend.per_day / base.rate, trend.days
                    )
                    if base.rate
                    else None
                )
                adjusted = (
                    None if relative is None else adjusted_for_trend(interval, quotient, relative, log_scale=True)
                )
            elif trend is not None:
                adjusted = interval
            tests.append(
                Test(
                    name="as a ratio",
                    estimate=quotient,
                    interval=interval,
                    adjusted=adjusted,
                    threshold=float(self.ratio),
                    unit=RATIO,
                    better=self.better,
                    worst=worst_quotient,
                )
            )
        primary, *others = tests
        hint = (
            power_hint(
                estimate=primary.estimate if primary.estimate is not None else 0.0,
                interval=primary.interval,
                target=primary.threshold,
                better=self.better,
                log_scale=primary.unit is RATIO,
                n=int(min(base.n, post.n)),
                next_alpha=errors.next_passing,
            )
            if primary.estimate is not None and primary.interval is not None
            else None
        )
        return replace(
            outline,
            estimate=primary.estimate,
            interval=primary.interval,
            threshold=primary.threshold,
            adjusted=primary.adjusted,
            worst=primary.worst,
            trend=trend,
            others=tuple(others),
            more_events=None if hint is None else hint.more_events,
            detectable=None if hint is None else hint.detectable,
        )

    def _trend(self, evidence: Evidence, context: Context) -> Trend | None:
        del context
        cells = evidence.baseline.rates[self.measure.name]
        n = cells.n.sum(axis=1).astype(np.float64)
        hits = cells.hits.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
        return trend_of(rates, n, evidence.baseline, centre_gap_days(evidence))

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        return _difference_placebo(evidence.baseline, self.measure.name, context, alpha, "BASELINE")

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.rates(result, evidence, self.measure.name)


@dataclass(frozen=True, slots=True)
class Share:
    """A report-only rate in each window, optionally split by a category (one row per value)."""

    measure: Rate
    by: Category | None = None

    @property
    def unit(self) -> Unit:
        return PERCENT

    def reads(self) -> Reads:
        categories = () if self.by is None else ((self.by, self.measure.events),)
        return Reads(rates=(self.measure,), categories=categories)

    def value(self, window: WindowEvidence) -> Observation:
        hits, n = window.rates[self.measure.name].total
        return Observation(hits / n if n else None, n)

    def split(self, window: WindowEvidence) -> dict[str, Observation]:
        if self.by is None:
            return {}
        counts = window.breakdowns.get((self.measure.name, self.by.field), {})
        return {label: Observation(h / n if n else None, n) for label, (h, n) in counts.items()}
