"""Quantiles of a duration: a ratio between windows, a budget in POST, and report-only quantiles.

The quantile's uncertainty comes from the level it sits at: the share of events at or below it is a
rate, whose clustered design effect (:mod:`sprintgate.design`) shrinks the sample to an effective
size; the quantile's position is then spread as Beta(q (m + 1), (1 - q) (m + 1)) over the observed
histogram (:func:`sprintgate.stats.quantile_pmf`), which needs no resampling and no Monte Carlo. A
ratio's distribution is the convolution of the two windows' positions on the common log-bucket grid.
Interval ends are read at bucket edges on the cautious side, so the 1 % bucket width never decides.

A budget ("p95 within 2,000 ms") is decided on the exact count of events strictly under the budget,
counted in SQL: a duration recorded at the budget (a timeout) misses it, whatever the buckets say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from sprintgate import stats
from sprintgate.compiler import BUCKET_BASE, Layout, budget_key
from sprintgate.design import DesignEffect, indicator_design_effect
from sprintgate.evidence import CellHistogram, Evidence, Histogram, WindowEvidence
from sprintgate.kinds import (
    Context,
    Measurement,
    Placebo,
    Reads,
    Test,
    Trend,
    centre_gap_days,
    excluded_of,
    too_few_clusters,
    trend_of,
    unread_rows,
)
from sprintgate.kinds.power import power_hint
from sprintgate.measures import DeclarationError, Duration
from sprintgate.results import GoalResult, Observation
from sprintgate.units import PERCENT, RATIO, Unit
from sprintgate.verdict import Better, Interval

#: The fewest effective events above the quantile a window needs: at 5 the false PASS rate stays under 2 %
#: in every small-sample cell of bench/calibration.py (100-300 events, 10:1 windows, ties, ICC 15 %), at 10
#: a p95 needed about 320 events to be judged at all (docs/statistics.md, "Calibration").
MIN_TAIL = 5
_LOG_BASE = math.log(BUCKET_BASE)


def _percentile(q: float) -> str:
    return f"p{100 * q:g}"


def _check_q(q: float, owner: str) -> None:
    if not isinstance(q, float | int) or not 0 < q < 1:
        raise DeclarationError(f"sprintgate: {owner}: q must lie strictly between 0 and 1, got {q!r}.")


@dataclass(frozen=True, slots=True)
class QuantileSample:
    """One window's quantile: its histogram, the bucket it sits in, and its design effect."""

    histogram: Histogram
    cells: CellHistogram
    q: float
    design: DesignEffect | None

    @property
    def position(self) -> int:
        return self.histogram.rank_position(max(1, math.ceil(self.q * self.histogram.n)))

    @property
    def bucket(self) -> int:
        assert self.histogram.index is not None
        return int(self.histogram.index[self.position])

    @property
    def value(self) -> float:
        return float(self.histogram.values[self.position])

    def effective(self, alpha: float) -> float:
        assert self.design is not None
        return self.design.effective(self.histogram.n, alpha)

    def with_unread(self, unread: int, *, above: bool) -> float:
        """The quantile had ``unread`` more values been read, all beyond every value read (``above``)
        or all below it: infinite, or 0, when they would reach the quantile themselves."""
        n = self.histogram.n
        rank = math.ceil(self.q * (n + unread)) - (0 if above else unread)
        if rank > n:
            return math.inf
        if rank < 1:
            return 0.0
        return float(self.histogram.values[self.histogram.rank_position(rank)])

    def pmf(self, alpha: float) -> np.ndarray:
        return stats.quantile_pmf(self.histogram.counts, self.q, self.effective(alpha))

    def short(self, alpha: float) -> bool:
        return self.effective(alpha) * (1 - self.q) < MIN_TAIL or self.effective(alpha) * self.q < MIN_TAIL


def sample(cells: CellHistogram, layout: Layout, q: float, context: Context) -> QuantileSample | None:
    """The quantile of one window's durations with its design effect; ``None`` without data.

    The design effect is that of the share of events at or below the quantile's bucket, or strictly
    below it, whichever is larger (a tie or a cap at the quantile makes one of them degenerate)."""
    if cells.n == 0:
        return None
    histogram = cells.histogram()
    partial = QuantileSample(histogram, cells, q, None)
    totals = cells.cell_totals()
    effects = [
        indicator_design_effect(cells.cells_at_or_below(bucket), totals, layout, context.clustering)
        for bucket in (partial.bucket, partial.bucket - 1)
    ]
    found = [e for e in effects if e is not None]
    design = max(found, key=lambda e: e.deff) if found else None
    return replace(partial, design=design)


def window_sample(window: WindowEvidence, measure: str, q: float, context: Context) -> QuantileSample | None:
    return sample(window.durations[measure], window.layout, q, context)


def _observation(found: QuantileSample | None) -> Observation:
    return Observation(None, 0) if found is None else Observation(found.value, found.histogram.n)


def _edge(index: float) -> float:
    return float(BUCKET_BASE**index)


def _problem(
    samples: Mapping[str, QuantileSample | None], context: Context, alphas: tuple[float, ...]
) -> tuple[str, str] | None:
    empty = [w for w, s in samples.items() if s is None]
    if empty:
        return "no_data", f"no usable values in the {' and '.join(empty)} window{'s' if len(empty) > 1 else ''}"
    flat = [w for w, s in samples.items() if s is not None and s.design is None]
    if flat:
        return (
            "zero_spread",
            f"every value of the {' and '.join(flat)} window lies in one 1 % bucket: no spread to measure",
        )
    crowded = too_few_clusters({w: s.design for w, s in samples.items() if s is not None}, context)
    if crowded:
        return crowded
    for window, found in samples.items():
        assert found is not None
        if any(found.short(alpha) for alpha in alphas):
            needed = math.ceil(MIN_TAIL / min(found.q, 1 - found.q) * found.design.inflation(min(alphas)))  # type: ignore[union-attr]
            return (
                "insufficient_sample",
                f"the {window} window has {found.histogram.n:,} events, about "
                f"{found.effective(min(alphas)):,.0f} effective once clustering is counted; a "
                f"{_percentile(found.q)} needs at least {MIN_TAIL} effective events beyond it (about {needed:,} events here)",
            )
    return None


@dataclass(frozen=True, slots=True)
class QuantileRatio:
    """``quantile(POST) / quantile(BASELINE)`` of a duration, at most (or at least) a target ratio."""

    measure: Duration
    q: float = 0.95
    at_most: float | None = None
    at_least: float | None = None

    def __post_init__(self) -> None:
        _check_q(self.q, f"QuantileRatio({self.measure.name})")
        if (self.at_most is None) == (self.at_least is None):
            raise DeclarationError(
                f"sprintgate: QuantileRatio({self.measure.name}) needs exactly one of at_most or at_least."
            )
        if not math.isfinite(self.target()) or self.target() <= 0:
            raise DeclarationError(
                f"sprintgate: QuantileRatio({self.measure.name}): the target ratio must be positive, got {self.target()!r}."
            )

    @property
    def better(self) -> Better:
        return Better.LOWER if self.at_most is not None else Better.HIGHER

    @property
    def unit(self) -> Unit:
        return RATIO

    @property
    def value_unit(self) -> Unit:
        return self.measure.value_unit

    @property
    def comparison(self) -> str:
        return "ratio"

    def target(self) -> float:
        return float(self.at_most if self.at_most is not None else self.at_least)  # type: ignore[arg-type]

    def with_target(self, text: str) -> QuantileRatio:
        value = RATIO.parse(text)
        return replace(self, at_most=value) if self.at_most is not None else replace(self, at_least=value)

    def title(self) -> str:
        side = "at most" if self.better is Better.LOWER else "at least"
        return f"{_percentile(self.q)} {self.measure.words} {side} {RATIO.format(self.target())} of BASELINE"

    def statistic(self) -> str:
        return f"{_percentile(self.q)} {self.measure.words}, POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"BASELINE": self.measure.events, "POST": self.measure.events}

    def reads(self) -> Reads:
        return Reads(durations=(self.measure,))

    def _bounds(
        self,
        base: QuantileSample,
        post: QuantileSample,
        alpha_low: float,
        alpha_high: float,
        trend: Trend | None = None,
    ) -> Interval:
        """The ratio's interval from the two windows' positions; ``trend`` shifts it by the trend."""
        ends = []
        for alpha, upper in ((alpha_low, False), (alpha_high, True)):
            post_pmf, base_pmf = post.pmf(alpha), base.pmf(alpha)
            assert post.histogram.index is not None
            assert base.histogram.index is not None
            pmf, first = _grid_difference(post_pmf, post.histogram.index, base_pmf, base.histogram.index)
            if trend is not None:
                widen = stats.t(alpha, trend.dof) / stats.z(alpha)
                pmf, first = stats.shift_pmf(pmf, first, -trend.shift / _LOG_BASE, widen * trend.sd / _LOG_BASE)
            if upper:
                ends.append(_edge(stats.upper_position(pmf, alpha) + first + 1))
            else:
                ends.append(_edge(stats.lower_position(pmf, alpha) + first - 1))
        return Interval(ends[0], ends[1], 1 - alpha_low, 1 - alpha_high)

    def _alphas(self, context: Context) -> tuple[float, float]:
        """(low end, high end) one-sided errors: the PASS side's end is the high one when lower is better."""
        errors = context.errors
        return (errors.failing, errors.passing) if self.better is Better.LOWER else (errors.passing, errors.failing)

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement:
        samples = {name: window_sample(w, self.measure.name, self.q, context) for name, w in evidence.windows()}
        base, post = samples["BASELINE"], samples["POST"]
        outline = Measurement(
            estimate=None,
            interval=None,
            threshold=self.target(),
            baseline=_observation(base),
            post=_observation(post),
            excluded=excluded_of(evidence, self.measure.name),
            design={w: s.design for w, s in samples.items() if s is not None and s.design is not None},
        )
        estimate = None if base is None or post is None else post.value / base.value
        alpha_low, alpha_high = self._alphas(context)
        problem = _problem(samples, context, (alpha_low, alpha_high))
        if problem is not None:
            return replace(outline, estimate=estimate, interval=None, problem=problem)
        assert base is not None
        assert post is not None
        interval = self._bounds(base, post, alpha_low, alpha_high)
        unread = unread_rows(evidence, self.measure.name)
        worst = None
        if any(unread.values()):
            # Worst for the goal: POST's unread values on its bad side, BASELINE's on its good side.
            slow = self.better is Better.LOWER
            worst_post = post.with_unread(unread["POST"], above=slow)
            worst_base = base.with_unread(unread["BASELINE"], above=not slow)
            worst = worst_post / worst_base if worst_base else (math.inf if slow else 0.0)
        trend = baseline_trend(evidence, base, self.measure.name)
        adjusted = None if trend is None else self._bounds(base, post, alpha_low, alpha_high, trend)
        hint = power_hint(
            estimate=estimate,  # type: ignore[arg-type]
            interval=interval,
            target=self.target(),
            better=self.better,
            log_scale=True,
            n=min(base.histogram.n, post.histogram.n),
            next_alpha=context.errors.next_passing,
        )
        return replace(
            outline,
            estimate=estimate,
            interval=interval,
            adjusted=adjusted,
            worst=worst,
            trend=trend,
            more_events=hint.more_events,
            detectable=hint.detectable,
        )

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        first, second = evidence.baseline.half(0), evidence.baseline.half(1)
        a = window_sample(first, self.measure.name, self.q, context)
        b = window_sample(second, self.measure.name, self.q, context)
        if a is None or b is None or a.design is None or b.design is None or a.short(alpha) or b.short(alpha):
            return None
        interval = self._bounds(a, b, alpha, alpha)
        return Placebo(b.value / a.value, interval, 1.0, "BASELINE")

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.durations(result, evidence, self.measure.name, self.q, reference="ratio")


def _grid_difference(
    post_pmf: np.ndarray, post_index: np.ndarray, base_pmf: np.ndarray, base_index: np.ndarray
) -> tuple[np.ndarray, int]:
    """Both positions' probabilities spread on their full bucket grids, then their difference."""
    post_grid = np.zeros(int(post_index[-1] - post_index[0]) + 1)
    post_grid[post_index - post_index[0]] = post_pmf
    base_grid = np.zeros(int(base_index[-1] - base_index[0]) + 1)
    base_grid[base_index - base_index[0]] = base_pmf
    return stats.difference_pmf(post_grid, int(post_index[0]), base_grid, int(base_index[0]))


def baseline_trend(evidence: Evidence, base: QuantileSample, measure: str) -> Trend | None:
    """The trend of the quantile within BASELINE, linearised: per slot, the share of events at or
    below BASELINE's quantile; its slope over time, divided by the density of log durations there,
    is the slope of the log quantile (a falling share means a rising quantile)."""
    cells = evidence.baseline.durations[measure]
    at_or_below = cells.cells_at_or_below(base.bucket).sum(axis=1).astype(np.float64)
    totals = cells.cell_totals().sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, at_or_below / np.maximum(totals, 1), np.nan)
    found = trend_of(shares, totals, evidence.baseline, centre_gap_days(evidence))
    if found is None:
        return None
    density = _log_density(base)
    if density <= 0:
        return None
    return Trend(
        shift=-found.shift / density,
        sd=found.sd / density,
        dof=found.dof,
        per_day=-found.per_day / density,
        days=found.days,
    )


def _log_density(found: QuantileSample) -> float:
    """How fast the share of events grows per unit of log duration around the quantile (5 % each side)."""
    histogram = found.histogram
    assert histogram.index is not None
    reach = max(1, round(math.log(1.05) / _LOG_BASE))
    low, high = found.bucket - reach, found.bucket + reach
    inside = (histogram.index >= low) & (histogram.index <= high)
    return float(histogram.counts[inside].sum()) / histogram.n / ((high - low + 1) * _LOG_BASE)


@dataclass(frozen=True, slots=True)
class QuantileBudget:
    """The ``q`` quantile of a duration in POST under a budget.

    Decided twice, and both must PASS: the quantile's interval read at bucket edges must lie under the
    budget, and the exact share of events strictly under the budget, counted in SQL, must lie over
    ``q``. A duration recorded at the budget (a timeout) misses it either way.
    """

    measure: Duration
    q: float = 0.95
    below: float | str = 0.0

    def __post_init__(self) -> None:
        owner = f"QuantileBudget({self.measure.name})"
        _check_q(self.q, owner)
        below = self.below
        if isinstance(below, str):
            try:
                below = self.measure.value_unit.parse(below)
            except ValueError as error:
                raise DeclarationError(f"sprintgate: {owner}: {error}.") from None
        if isinstance(below, bool) or not isinstance(below, int | float) or not math.isfinite(below) or below <= 0:
            raise DeclarationError(f"sprintgate: {owner}: below must be a positive budget, got {below!r}.")
        if below > self.measure.limit:
            raise DeclarationError(
                f"sprintgate: {owner}: the budget {below:g} is above the measure's limit {self.measure.limit:g}."
            )
        object.__setattr__(self, "below", float(below))

    @property
    def better(self) -> Better:
        return Better.LOWER

    @property
    def unit(self) -> Unit:
        return self.measure.value_unit

    @property
    def value_unit(self) -> Unit:
        return self.measure.value_unit

    @property
    def comparison(self) -> str:
        return "level"

    def target(self) -> float:
        return float(self.below)

    def with_target(self, text: str) -> QuantileBudget:
        return replace(self, below=text)

    def title(self) -> str:
        return f"{_percentile(self.q)} {self.measure.words} under {self.measure.value_unit.format(self.target())}"

    def statistic(self) -> str:
        return f"{_percentile(self.q)} {self.measure.words} in POST"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": self.measure.events}

    def reads(self) -> Reads:
        return Reads(durations=(self.measure,), budgets={self.measure.name: (self.target(),)})

    def _share(self, window: WindowEvidence, context: Context) -> tuple[float, float, DesignEffect | None]:
        cells = window.durations[self.measure.name]
        under = window.budgets[budget_key(self.measure.name, self.target())]
        totals = cells.cell_totals()
        design = indicator_design_effect(under, totals, window.layout, context.clustering)
        return float(under.sum()), float(totals.sum()), design

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement:
        samples = {name: window_sample(w, self.measure.name, self.q, context) for name, w in evidence.windows()}
        post = samples["POST"]
        hits, n, design = self._share(evidence.post, context)
        share = hits / n if n else None
        errors = context.errors
        outline = Measurement(
            estimate=None,
            interval=None,
            threshold=self.target(),
            baseline=_observation(samples["BASELINE"]),
            post=_observation(post),
            excluded=excluded_of(evidence, self.measure.name),
            design={} if post is None or post.design is None else {"POST": post.design},
            details={
                "budget": self.target(),
                "under_budget": int(hits),
                "at_or_over_budget": int(n - hits),
                "share_under_budget": share,
            },
        )
        problem = _problem({"POST": post}, context, (errors.passing, errors.failing))
        if problem is not None:
            return replace(outline, estimate=None if post is None else post.value, interval=None, problem=problem)
        assert post is not None
        assert post.histogram.index is not None
        index = post.histogram.index
        high = _edge(int(index[stats.upper_position(post.pmf(errors.passing), errors.passing)]) + 1)
        low = _edge(int(index[stats.lower_position(post.pmf(errors.failing), errors.failing)]))
        interval = Interval(min(low, post.value), max(high, post.value), 1 - errors.failing, 1 - errors.passing)
        # The exact count: every event is on one side of the budget or the other; with all on one side
        # there is no spread to measure a clustering from, and independent events are all one can say.
        effect = design or DesignEffect.independent()
        n_pass, n_fail = effect.effective(n, errors.passing), effect.effective(n, errors.failing)
        share_low, _ = stats.wilson((share or 0.0) * n_pass, n_pass, errors.passing)
        _, share_high = stats.wilson((share or 0.0) * n_fail, n_fail, errors.failing)
        # Worst for the goal: every unread POST value over the budget.
        unread = unread_rows(evidence, self.measure.name)["POST"]
        exact = Test(
            name="the share strictly under the budget",
            estimate=share,
            interval=Interval(share_low, share_high, 1 - errors.passing, 1 - errors.failing),
            adjusted=None,
            threshold=self.q,
            unit=PERCENT,
            better=Better.HIGHER,
            worst=hits / (n + unread) if unread else None,
        )
        hint = power_hint(
            estimate=post.value,
            interval=interval,
            target=self.target(),
            better=Better.LOWER,
            log_scale=True,
            n=int(n),
            next_alpha=errors.next_passing,
        )
        return replace(
            outline,
            estimate=post.value,
            interval=interval,
            worst=post.with_unread(unread, above=True) if unread else None,
            others=(exact,),
            more_events=hint.more_events,
            detectable=hint.detectable,
        )

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        parts = [self._share(evidence.post.half(i), context) for i in (0, 1)]
        if any(n == 0 or d is None for _, n, d in parts):
            return None
        (h1, n1, d1), (h2, n2, d2) = parts
        assert d1 is not None
        assert d2 is not None
        m1, m2 = d1.effective(n1, alpha), d2.effective(n2, alpha)
        if min(m1, m2) * min(self.q, 1 - self.q) < MIN_TAIL:
            return None
        low, high = stats.newcombe(h2 / n2, m2, h1 / n1, m1, alpha, alpha)
        return Placebo(h2 / n2 - h1 / n1, Interval(low, high, 1 - alpha, 1 - alpha), 0.0, "POST")

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.durations(result, evidence, self.measure.name, self.q, reference="budget", budget=self.target())


@dataclass(frozen=True, slots=True)
class Quantile:
    """A report-only quantile of a duration (or of rows per unit), in each window."""

    measure: Duration
    q: float = 0.95

    def __post_init__(self) -> None:
        _check_q(self.q, f"Quantile({self.measure.name})")

    @property
    def unit(self) -> Unit:
        return self.measure.value_unit

    def reads(self) -> Reads:
        return Reads(durations=(self.measure,))

    def value(self, window: WindowEvidence) -> Observation:
        cells = window.durations[self.measure.name]
        if cells.n == 0:
            return Observation(None, 0)
        return Observation(cells.histogram().quantile(self.q), cells.n)
