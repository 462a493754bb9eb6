"""Means per unit (retry rows per request, say): a ratio between windows and report-only values.

The mean per unit is a ratio of sums (rows / units); its variance is cluster-robust over the cells of
each unit's first row (:mod:`sprintgate.design`), its interval the delta method on the log ratio with
Student's t at the smaller of the Welch-Satterthwaite and the cluster degrees of freedom. Heavy
tails (a unit with 50 rows among units with 1) make small samples look better than they are: a
window needs ``MIN_UNITS`` units, a number set by simulation (bench/calibration.py), and units of
zero spread give no interval at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from sprintgate import stats
from sprintgate.design import DesignEffect, design_effect
from sprintgate.evidence import CellUnits, Evidence, WindowEvidence
from sprintgate.kinds import (
    Context,
    Measurement,
    Placebo,
    Reads,
    Trend,
    adjusted_for_trend,
    centre_gap_days,
    excluded_of,
    too_few_clusters,
    trend_of,
    unread_rows,
)
from sprintgate.kinds.power import power_hint
from sprintgate.measures import DeclarationError, PerUnit
from sprintgate.results import GoalResult, Observation
from sprintgate.units import RATIO, Unit
from sprintgate.verdict import Better, Interval

#: The fewest units a window needs for a ratio of means (bench/calibration.py: heavy-tailed retries).
MIN_UNITS = 400


@dataclass(frozen=True, slots=True)
class MeanSample:
    """One window's mean per unit: units, rows, the spread of rows per unit and the design effect."""

    units: float
    rows: float
    spread: float  # sum over units of (rows - mean)^2
    design: DesignEffect | None

    @property
    def mean(self) -> float | None:
        return self.rows / self.units if self.units else None

    def variance_of_log_mean(self, alpha: float) -> float:
        """Var(log mean) for the bound at ``alpha``: the spread over units, times the design effect."""
        assert self.design is not None
        assert self.mean
        return self.spread * self.design.inflation(alpha) / (self.units * self.units) / (self.mean * self.mean)

    @property
    def dof(self) -> float:
        assert self.design is not None
        return min(self.units - 1, self.design.dof)


def mean_sample(cells: CellUnits, window: WindowEvidence, context: Context) -> MeanSample:
    units, rows, squares = float(cells.units.sum()), float(cells.total.sum()), float(cells.squares.sum())
    if not units:
        return MeanSample(0.0, 0.0, 0.0, None)
    mean = rows / units
    spread = max(0.0, squares - 2 * mean * rows + mean * mean * units)
    return MeanSample(
        units, rows, spread, design_effect(cells.total, cells.units, spread, window.layout, context.clustering)
    )


@dataclass(frozen=True, slots=True)
class MeanRatio:
    """``mean(POST) / mean(BASELINE)`` of rows per unit, at most (or at least) a target ratio."""

    measure: PerUnit
    at_most: float | None = None
    at_least: float | None = None

    def __post_init__(self) -> None:
        if (self.at_most is None) == (self.at_least is None):
            raise DeclarationError(
                f"sprintgate: MeanRatio({self.measure.name}) needs exactly one of at_most or at_least."
            )
        value = self.target()
        if not math.isfinite(value) or value <= 0:
            raise DeclarationError(
                f"sprintgate: MeanRatio({self.measure.name}): the target ratio must be positive, got {value!r}."
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

    def with_target(self, text: str) -> MeanRatio:
        value = RATIO.parse(text)
        return replace(self, at_most=value) if self.at_most is not None else replace(self, at_least=value)

    def title(self) -> str:
        side = "at most" if self.better is Better.LOWER else "at least"
        return f"{self.measure.words} {side} {RATIO.format(self.target())} of BASELINE"

    def statistic(self) -> str:
        return f"mean {self.measure.words}, POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"BASELINE": self.measure.events, "POST": self.measure.events}

    def reads(self) -> Reads:
        return Reads(units=(self.measure,))

    def _interval(self, base: MeanSample, post: MeanSample, alpha_low: float, alpha_high: float) -> Interval:
        assert base.mean
        assert post.mean
        centre = math.log(post.mean / base.mean)
        ends = []
        for alpha in (alpha_low, alpha_high):
            parts = (post.variance_of_log_mean(alpha), base.variance_of_log_mean(alpha))
            dof = stats.welch_dof(parts, (post.dof, base.dof))
            ends.append(stats.log_ratio_bounds(centre, sum(parts), dof, alpha, alpha))
        return Interval(ends[0][0], ends[1][1], 1 - alpha_low, 1 - alpha_high)

    def _problem(self, samples: Mapping[str, MeanSample], context: Context) -> tuple[str, str] | None:
        empty = [w for w, s in samples.items() if not s.units]
        if empty:
            return "no_data", f"no units in the {' and '.join(empty)} window{'s' if len(empty) > 1 else ''}"
        flat = [w for w, s in samples.items() if s.design is None]
        if flat:
            return (
                "zero_spread",
                f"every unit of the {' and '.join(flat)} window has the same count: no spread to measure",
            )
        crowded = too_few_clusters({w: s.design for w, s in samples.items()}, context)
        if crowded:
            return crowded
        short = [f"{w} has {s.units:,.0f}" for w, s in samples.items() if s.units < MIN_UNITS]
        if short:
            return (
                "insufficient_sample",
                f"{' and '.join(short)} units; a mean per unit of heavy-tailed counts needs at least {MIN_UNITS:,} per window",
            )
        return None

    def evaluate(self, evidence: Evidence, context: Context) -> Measurement:
        samples = {w: mean_sample(e.units[self.measure.name], e, context) for w, e in evidence.windows()}
        base, post = samples["BASELINE"], samples["POST"]
        estimate = post.mean / base.mean if base.mean and post.mean else None
        outline = Measurement(
            estimate=None,
            interval=None,
            threshold=self.target(),
            baseline=Observation(base.mean, int(base.units)),
            post=Observation(post.mean, int(post.units)),
            excluded=excluded_of(evidence, self.measure.name),
            design={w: s.design for w, s in samples.items() if s.design is not None},
        )
        problem = self._problem(samples, context)
        if problem is not None or estimate is None:
            return replace(outline, estimate=estimate, interval=None, problem=problem or ("no_data", "no mean"))
        errors = context.errors
        alpha_low, alpha_high = (
            (errors.failing, errors.passing) if self.better is Better.LOWER else (errors.passing, errors.failing)
        )
        interval = self._interval(base, post, alpha_low, alpha_high)
        unread = unread_rows(evidence, self.measure.name)
        worst = None
        if any(unread.values()):
            # Worst for the goal: unread rows raise the mean of the window where more is bad (each one
            # another row of a unit already counted) and lower it where more is good (each one a unit
            # of its own, with one row).
            more = {"POST": self.better is Better.LOWER, "BASELINE": self.better is Better.HIGHER}
            means = {
                w: (s.rows + unread[w]) / s.units if more[w] else (s.rows + unread[w]) / (s.units + unread[w])
                for w, s in samples.items()
            }
            worst = means["POST"] / means["BASELINE"]
        trend = self._trend(evidence)
        adjusted = None if trend is None else adjusted_for_trend(interval, estimate, trend, log_scale=True)
        hint = power_hint(
            estimate=estimate,
            interval=interval,
            target=self.target(),
            better=self.better,
            log_scale=True,
            n=int(min(base.units, post.units)),
            next_alpha=errors.next_passing,
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

    def _trend(self, evidence: Evidence) -> Trend | None:
        cells = evidence.baseline.units[self.measure.name]
        units = cells.units.sum(axis=1).astype(np.float64)
        rows = cells.total.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.where(rows > 0, np.log(np.maximum(rows, 1) / np.maximum(units, 1)), np.nan)
        return trend_of(logs, units, evidence.baseline, centre_gap_days(evidence))

    def placebo(self, evidence: Evidence, context: Context, alpha: float) -> Placebo | None:
        first, second = (
            mean_sample(evidence.baseline.half(i).units[self.measure.name], evidence.baseline.half(i), context)
            for i in (0, 1)
        )
        if self._problem({"first half": first, "second half": second}, context) is not None:
            return None
        assert first.mean
        assert second.mean
        return Placebo(second.mean / first.mean, self._interval(first, second, alpha, alpha), 1.0, "BASELINE")

    def plot(self, result: GoalResult, evidence: Evidence) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.per_unit(result, evidence, self.measure.name)


@dataclass(frozen=True, slots=True)
class Mean:
    """A report-only mean per unit in each window."""

    measure: PerUnit

    @property
    def unit(self) -> Unit:
        return self.measure.value_unit

    def reads(self) -> Reads:
        return Reads(units=(self.measure,))

    def value(self, window: WindowEvidence) -> Observation:
        cells = window.units[self.measure.name]
        units = cells.n
        return Observation(float(cells.total.sum()) / units if units else None, units)


@dataclass(frozen=True, slots=True)
class UnitQuantile:
    """A report-only quantile of rows per unit in each window (the rollout document's "Attempt p95")."""

    measure: PerUnit
    q: float = 0.95

    @property
    def unit(self) -> Unit:
        return self.measure.value_unit

    def reads(self) -> Reads:
        return Reads(units=(self.measure,))

    def value(self, window: WindowEvidence) -> Observation:
        cells = window.units[self.measure.name]
        if cells.per_unit is None:
            return Observation(None, 0)
        return Observation(cells.per_unit.quantile(self.q), cells.per_unit.n)
