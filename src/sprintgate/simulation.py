"""Synthetic evidence with a known truth, for calibrating the gate (``bench/calibration.py``,
``tests/test_calibration.py``).

Everything is drawn as the evidence query returns it: per cell (a 12 h time slot of a 7-day window
crossed with one of 16 hashed cluster groups), never event by event where it can be avoided. A
window's events pick their cell with probability ``slot volume x group volume``; within a cell the
values follow that cell's distribution, and the counts per 1 % log bucket (durations), the hits (rates)
or the units per row count (means per unit) are one multinomial draw over the cell's probabilities.
So a window of 100,000 events costs about what one of 1,000 costs, and the truth is known exactly.

What makes telemetry hard is modelled where it lives:

- tenants (``Population.tenants``, tenant ``r`` in group ``r % 16`` as the cluster hash
  would place it) with skewed volumes, a persistent effect (``icc``), an effect redrawn every week
  (``weekly_icc``) and volumes that shift from week to week (``volume_shift``);
- time: a day/night volume pattern (two slots a day), incident hours in which everything is slower
  (durations), bursts of hits (rates), and a drift through both windows with the flags' effect on top;
- values: lognormal, Pareto-tailed and bimodal shapes, values reported on a grid (ties), values capped
  at a timeout (recorded at the budget), and the exact count of values strictly under a budget
  computed from the values, not from their buckets.

A duration's tenant effect is a whole number of 1 % buckets (a scale factor ``1.01**k``), so a
group's mix of tenants is a convolution of bucket probabilities; the flags' effect, the drift and
incidents are exact. Reruns (:func:`rerun_more_events`, :func:`rerun_weekly`) spend the PASS side's
error with :func:`sprintgate.looks.spend` as the gate does.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, signal, special

from sprintgate.compiler import BUCKET_BASE, Layout, budget_key
from sprintgate.config import Thresholds
from sprintgate.evidence import CellHistogram, CellRate, CellUnits, Census, Evidence, Histogram, WindowEvidence
from sprintgate.goals import Goal
from sprintgate.kinds import Errors
from sprintgate.kinds.mean import MeanRatio
from sprintgate.kinds.quantile import QuantileBudget, QuantileRatio
from sprintgate.kinds.rate import RateChange, RateLimit
from sprintgate.looks import spend
from sprintgate.measures import Duration, FieldTrue, PerUnit, Rate
from sprintgate.preconditions import PRECONDITIONS, PreconditionCheck
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.suite import Suite
from sprintgate.units import PERCENT
from sprintgate.verdict import Better, Verdict
from sprintgate.windows import Window

Float = NDArray[np.float64]
Int = NDArray[np.int64]

#: The engine's default cells: 12 h slots on 7-day windows (two time-of-day strata), 16 groups.
LAYOUT = Layout(slots=14, groups=16, slots_per_day=2)
FLIP = datetime(2025, 11, 10, tzinfo=UTC)
WINDOW = timedelta(days=7)
WARMUP = timedelta(hours=24)
HOURS = 168
HOURS_PER_SLOT = HOURS // LAYOUT.slots
_LOG_BASE = math.log(BUCKET_BASE)
_GROUPS = LAYOUT.groups + 1  # the last group holds rows without a cluster value (empty here)
_UNIT_STEP = 0.02  # the grid of tenant effects on the log mean of extra rows per unit
_MAX_ROWS = 400  # rows per unit beyond this are counted as this (probability below 1e-7 here)
_DIRECT_EVENTS = 200_000  # below this many events a window's categories are drawn event by event

#: The measures every synthetic window carries, under the names the goals read.
DURATION = Duration("duration", events=("call",), field="duration_ms")
RATE = Rate("outcome", events=("call",), hit=FieldTrue("hit"))
PER_UNIT = PerUnit("rows_per_unit", events=("attempt",), unit="unit_id", counts="attempts")
SUITE = Suite(
    name="calibration",
    flags=("flag",),
    rollback="turn the flag off",
    demand=("call",),
    cluster="tenant_id",
    columns={"tenant_id": "uuid", "unit_id": "uuid"},
)


def baseline_window() -> Window:
    return Window(FLIP - WINDOW, FLIP)


def post_window(week: int = 1) -> Window:
    """POST of the ``week``-th weekly run: it starts a day after the flip, a week later each time."""
    start = FLIP + WARMUP + WINDOW * (week - 1)
    return Window(start, start + WINDOW)


def _slot_days(window: Window) -> Float:
    """Each slot's centre in days since BASELINE's start (the time axis of every drift)."""
    offset = (window.start - baseline_window().start).total_seconds() / 86400
    width = window.days / LAYOUT.slots
    return np.asarray(offset + (np.arange(LAYOUT.slots) + 0.5) * width, dtype=np.float64)


# --- value shapes -----------------------------------------------------------------------------------


class Shape(Protocol):
    """A distribution of positive values at unit scale: its CDF, vectorised (a frozen, hashable value)."""

    def __hash__(self) -> int: ...

    def cdf(self, x: Float) -> Float: ...


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Median 1, log standard deviation ``sigma``."""

    sigma: float = 0.6

    def cdf(self, x: Float) -> Float:
        return np.asarray(special.ndtr(np.log(np.maximum(x, 1e-300)) / self.sigma), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Pareto:
    """A Lomax (Pareto type II) tail of index ``alpha``: ``1 - (1 + x)**-alpha``."""

    alpha: float = 1.5

    def cdf(self, x: Float) -> Float:
        return np.asarray(1.0 - (1.0 + np.maximum(x, 0.0)) ** -self.alpha, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Bimodal:
    """A fast mode (median 1, share ``fast``) and a slow mode ``gap`` times slower, both lognormal."""

    fast: float = 0.5
    gap: float = 8.0
    sigma: float = 0.35

    def cdf(self, x: Float) -> Float:
        logs = np.log(np.maximum(x, 1e-300))
        return np.asarray(
            self.fast * special.ndtr(logs / self.sigma)
            + (1 - self.fast) * special.ndtr((logs - math.log(self.gap)) / self.sigma),
            dtype=np.float64,
        )


@functools.cache
def _log_moments(shape: Shape) -> tuple[float, float, float, float]:
    """Mean and variance of ``log X`` at unit scale, and the logs where the CDF is 1e-9 and 1 - 1e-10."""
    logs = np.linspace(-60.0, 60.0, 240_001)
    cdf = shape.cdf(np.exp(logs))
    mass = np.diff(cdf)
    centres = (logs[1:] + logs[:-1]) / 2
    mean = float(np.dot(mass, centres) / mass.sum())
    variance = float(np.dot(mass, (centres - mean) ** 2) / mass.sum())
    low = float(logs[int(np.searchsorted(cdf, 1e-9))])
    high = float(logs[min(logs.size - 1, int(np.searchsorted(cdf, 1 - 1e-10)))])
    return mean, variance, low, high


def quantile_of(shape: Shape, q: float) -> float:
    """The ``q`` quantile of ``shape`` at unit scale."""
    _, _, low, high = _log_moments(shape)
    return math.exp(
        optimize.brentq(lambda v: float(shape.cdf(np.array([math.exp(v)]))[0]) - q, low - 1, high + 1, xtol=1e-13)
    )


@dataclass(frozen=True, slots=True)
class Profile:
    """One window's values before tenant and time effects: ``shape`` scaled by ``scale``; then
    reported rounded up to ``grid`` (ties) and/or capped at ``cap`` (a timeout recorded at the cap)."""

    shape: Shape
    scale: float
    cap: float | None = None
    grid: float | None = None

    def scaled(self, factor: float) -> Profile:
        return replace(self, scale=self.scale * factor)


# --- scenarios ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Population:
    """Who produces the events, and when.

    ``icc`` and ``weekly_icc`` are shares of the variance: of ``log duration`` for durations, of the
    hit indicator for rates (the beta-binomial ICC), of rows per unit for means per unit.
    ``drift_per_week`` is a change of ``log duration`` or ``log mean per unit`` per week, or of a rate
    in points per week; it runs through both windows and the flags' effect sits on top of it.
    """

    tenants: int = 1000
    icc: float = 0.0
    weekly_icc: float = 0.0
    volume_sd: float = 1.0  # log-sd of tenant volumes
    volume_shift: float = 0.0  # log-sd of each tenant's volume change from week to week
    day_share: float = 0.6  # share of a day's events in its 12 daytime hours
    incident_hours: float = 0.0  # expected hours per window in which every duration is slower
    slowdown: float = 2.0
    burst_hours: float = 0.0  # expected hours per window in which the hit rate jumps
    burst_excess: float = 0.3  # in a burst, this share of the misses become hits
    drift_per_week: float = 0.0

    @property
    def clustered(self) -> bool:
        return self.icc > 0 or self.weekly_icc > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Durations:
    """Durations: BASELINE's and POST's profiles; ``budget``: the exact count strictly under it."""

    baseline: Profile
    post: Profile
    budget: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """A rate: BASELINE's and POST's mean over tenants and hours (the truth)."""

    baseline: float
    post: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PerUnits:
    """Rows per unit: ``1 + Poisson(extra)`` (times the tenant's effect); in POST a ``storms``
    share of units are retry storms of ``storm_min`` rows plus a geometric number more (mean
    ``storm_mean`` rows in all). ``post_extra`` is solved so that the ratio of means is ``ratio``."""

    baseline_extra: float = 4.0
    ratio: float = 0.5
    storms: float = 0.0
    storm_min: int = 50
    storm_mean: float = 70.0
    same_units: bool = False  # no spread at all: every BASELINE unit has 2 rows, every POST unit 1


World = Durations | Rates | PerUnits


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One cell of the calibration matrix: the truth, who produces it and how many events."""

    world: World
    population: Population = field(default_factory=Population)
    n_baseline: int = 2000
    n_post: int = 2000


# --- what a scenario implies (solved once) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    sigma_persistent: float  # sd of the tenant effect in the kind's working scale
    sigma_weekly: float
    logit: tuple[float, float]  # rates: the logit location in BASELINE and POST
    extra: tuple[float, float]  # per unit: extra rows in BASELINE and POST
    first: int  # durations: the first bucket of the grid
    buckets: int
    reach: int  # durations: the largest tenant effect, in buckets


def _gauss_hermite(points: int = 80) -> tuple[Float, Float]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    return np.asarray(nodes, dtype=np.float64), np.asarray(weights / weights.sum(), dtype=np.float64)


_NODES, _WEIGHTS = _gauss_hermite()


def _rate_mean(location: float, sigma: float, population: Population) -> float:
    """The mean rate over tenants (logit-normal) and hours (bursts)."""
    base = float(np.dot(_WEIGHTS, special.expit(location + sigma * _NODES)))
    burst = population.burst_hours / HOURS * population.burst_excess
    return base + (1 - base) * burst


def _rate_icc(location: float, sigma: float) -> float:
    p = special.expit(location + sigma * _NODES)
    mean = float(np.dot(_WEIGHTS, p))
    return float(np.dot(_WEIGHTS, (p - mean) ** 2)) / (mean * (1 - mean))


def _rate_location(target: float, sigma: float, population: Population) -> float:
    return float(optimize.brentq(lambda a: _rate_mean(a, sigma, population) - target, -30, 30, xtol=1e-14))


def _discrete_normal(sigma: float, step: float) -> tuple[Int, Float]:
    """``round(N(0, sigma^2) / step)``: its support and probabilities."""
    if sigma <= 0:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    reach = max(1, math.ceil(7 * sigma / step))
    k = np.arange(-reach, reach + 1)
    edges = (np.append(k - 0.5, reach + 0.5)) * step / sigma
    p = np.diff(special.ndtr(edges))
    return k.astype(np.int64), np.asarray(p / p.sum(), dtype=np.float64)


def _unit_moments(extra: float, sigma: float) -> tuple[float, float]:
    """Mean and variance of ``1 + Poisson(extra * exp(b))`` over the quantised tenant effect ``b``."""
    k, p = _discrete_normal(sigma, _UNIT_STEP)
    rates = extra * np.exp(k * _UNIT_STEP)
    mean = 1 + float(np.dot(p, rates))
    variance = float(np.dot(p, rates)) + float(np.dot(p, (rates - (mean - 1)) ** 2))
    return mean, variance


def _storm_pmf(world: PerUnits) -> Float:
    """Rows of a retry storm: ``storm_min`` plus a geometric number, on 0..``_MAX_ROWS``."""
    pmf = np.zeros(_MAX_ROWS + 1)
    extra = world.storm_mean - world.storm_min
    q = extra / (extra + 1)  # geometric on 0, 1, ... with mean ``extra``
    k = np.arange(world.storm_min, _MAX_ROWS + 1)
    pmf[k] = (1 - q) * q ** (k - world.storm_min)
    pmf[-1] += 1 - pmf.sum()
    return pmf


@functools.cache
def _prepare(scenario: Scenario) -> _Prepared:
    population, world = scenario.population, scenario.world
    share = population.icc + population.weekly_icc
    if share >= 1:
        raise ValueError("icc + weekly_icc must stay under 1")
    persistent = population.icc / share if share else 0.0
    if isinstance(world, Durations):
        _, variance, _, _ = _log_moments(world.baseline.shape)
        total = share / (1 - share) * variance if share else 0.0
        sp, sw = math.sqrt(total * persistent), math.sqrt(total * (1 - persistent))
        if share and (world.baseline.grid or world.post.grid):
            raise ValueError("grid values are simulated without tenant effects")
        reach = math.ceil(7 * math.hypot(sp, sw) / _LOG_BASE) if share else 0
        lows, highs = [], []
        drift = abs(population.drift_per_week) / 7 * 40
        for profile in (world.baseline, world.post):
            _, _, low, high = _log_moments(profile.shape)
            lows.append(low + math.log(profile.scale) - drift)
            highs.append(high + math.log(profile.scale) + drift + math.log(max(population.slowdown, 1.0)))
        first = math.floor(min(lows) / _LOG_BASE)
        last = math.ceil(max(highs) / _LOG_BASE)
        return _Prepared(sp, sw, (0.0, 0.0), (0.0, 0.0), first, last - first + 1, reach)
    if isinstance(world, Rates):
        sigma = 0.0
        if share:
            sigma = optimize.brentq(
                lambda s: _rate_icc(_rate_location(world.baseline, s, population), s) - share, 1e-4, 8.0, xtol=1e-10
            )
        sp, sw = sigma * math.sqrt(persistent), sigma * math.sqrt(1 - persistent)
        locations = (_rate_location(world.baseline, sigma, population), _rate_location(world.post, sigma, population))
        return _Prepared(sp, sw, locations, (0.0, 0.0), 0, 0, 0)
    sigma = 0.0
    if share:

        def icc_of(s: float) -> float:
            mean, variance = _unit_moments(world.baseline_extra, s)
            rates_var = variance - (mean - 1)
            return rates_var / variance

        sigma = optimize.brentq(lambda s: icc_of(s) - share, 1e-4, 4.0, xtol=1e-10)
    base_mean, _ = _unit_moments(world.baseline_extra, sigma)
    storm = _storm_pmf(world)
    storm_mean = float(np.dot(storm, np.arange(storm.size)))
    target = world.ratio * base_mean
    normal = (target - world.storms * storm_mean) / (1 - world.storms)
    one, _ = _unit_moments(1.0, sigma)  # 1 + E[exp(b)]
    extra = (normal - 1) / (one - 1)
    if extra <= 0:
        raise ValueError(f"a ratio of {world.ratio} with {world.storms:.1%} storms leaves no room for the other units")
    sp, sw = sigma * math.sqrt(persistent), sigma * math.sqrt(1 - persistent)
    return _Prepared(sp, sw, (0.0, 0.0), (world.baseline_extra, extra), 0, 0, 0)


def prepare(scenario: Scenario) -> None:
    """Solve ``scenario``'s truth now (it raises if the scenario cannot exist)."""
    _prepare(scenario)


def true_mean_ratio(scenario: Scenario) -> float:
    """The ratio of mean rows per unit, POST over BASELINE, over tenants (for checks)."""
    world = scenario.world
    assert isinstance(world, PerUnits)
    prepared = _prepare(scenario)
    sigma = math.hypot(prepared.sigma_persistent, prepared.sigma_weekly)
    base, _ = _unit_moments(prepared.extra[0], sigma)
    post, _ = _unit_moments(prepared.extra[1], sigma)
    storm = _storm_pmf(world)
    return ((1 - world.storms) * post + world.storms * float(np.dot(storm, np.arange(storm.size)))) / base


# --- truths of duration scenarios ------------------------------------------------------------------------


def marginal_cdf(profile: Profile, population: Population, x: Float) -> Float:
    """The CDF of a window's reported values over tenants, weeks and incidents (no drift): the
    truth a scenario is set against. Tenant effects are whole buckets, as simulated."""
    shape_var = _log_moments(profile.shape)[1]
    share = population.icc + population.weekly_icc
    sigma = math.sqrt(share / (1 - share) * shape_var) if share else 0.0
    k, p = _discrete_normal(sigma, _LOG_BASE)
    incident = population.incident_hours / HOURS
    out = np.zeros_like(np.asarray(x, dtype=np.float64))
    for shift, weight in zip(k, p, strict=True):
        factor = BUCKET_BASE ** float(shift)
        scaled = np.asarray(x, dtype=np.float64) / (profile.scale * factor)
        values = (1 - incident) * profile.shape.cdf(scaled) + incident * profile.shape.cdf(scaled / population.slowdown)
        out += weight * values
    if profile.cap is not None:
        out = np.where(np.asarray(x) >= profile.cap, 1.0, out)
    return out


def scale_for_quantile(profile: Profile, population: Population, q: float, value: float) -> Profile:
    """``profile`` rescaled so that a share ``q`` of its values, over tenants, weeks and incidents,
    lies strictly under ``value``: its marginal ``q`` quantile is ``value`` (values are continuous
    below a cap), and a budget of ``value`` sits exactly at the margin."""

    def gap(log_scale: float) -> float:
        trial = replace(profile, scale=math.exp(log_scale))
        return float(marginal_cdf(trial, population, np.array([value * (1 - 1e-12)]))[0]) - q

    guess = math.log(value / quantile_of(profile.shape, q))
    solved = optimize.brentq(gap, guess - 5, guess + 5, xtol=1e-13)
    return replace(profile, scale=math.exp(solved))


# --- one replicate: tenants, then windows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tenants:
    group: Int
    volume: Float
    effect: Float


def _tenants(scenario: Scenario, rng: np.random.Generator) -> _Tenants:
    population = scenario.population
    count = population.tenants
    group = np.arange(count, dtype=np.int64) % LAYOUT.groups
    volume = np.exp(population.volume_sd * rng.standard_normal(count))
    effect = _prepare(scenario).sigma_persistent * rng.standard_normal(count)
    return _Tenants(group, volume, effect)


def _window_tenants(scenario: Scenario, tenants: _Tenants, rng: np.random.Generator) -> tuple[Float, Float]:
    """This window's volumes and total effects (the persistent effect plus this week's)."""
    population = scenario.population
    count = tenants.group.size
    shift = population.volume_shift
    volume = tenants.volume * (np.exp(shift * rng.standard_normal(count) - shift * shift / 2) if shift else 1.0)
    weekly = _prepare(scenario).sigma_weekly
    effect = tenants.effect + (weekly * rng.standard_normal(count) if weekly else 0.0)
    return np.asarray(volume, dtype=np.float64), np.asarray(effect, dtype=np.float64)


def _hour_shares(expected: float, rng: np.random.Generator) -> Float:
    """Per slot, the share of its hours hit by an event (incident, burst) placed at random hours."""
    count = min(HOURS, int(rng.poisson(expected))) if expected else 0
    hours = rng.choice(HOURS, size=count, replace=False) if count else np.zeros(0, dtype=np.int64)
    per_slot = np.bincount(hours // HOURS_PER_SLOT, minlength=LAYOUT.slots)
    return np.asarray(per_slot / HOURS_PER_SLOT, dtype=np.float64)


def _slot_volume(population: Population) -> Float:
    day = np.arange(LAYOUT.slots) % LAYOUT.slots_per_day == 1
    volume = np.where(day, population.day_share, 1 - population.day_share)
    return np.asarray(volume / volume.sum(), dtype=np.float64)


def _cell_shares(population: Population, group: Int, volume: Float) -> Float:
    by_group = np.bincount(group, weights=volume, minlength=_GROUPS)
    shares = np.outer(_slot_volume(population), by_group / by_group.sum())
    return np.asarray(shares / shares.sum(), dtype=np.float64)


def _draw_categories(n: Int, rows: Float, row_of_cell: Int, rng: np.random.Generator) -> Int:
    """Counts per category of each cell: ``n[cell]`` events over the probabilities ``rows[row_of_cell[cell]]``.

    One multinomial draw per cell for large windows; below ``_DIRECT_EVENTS`` events each event's
    category is drawn by inverting its cell's CDF, which is the same distribution at less cost."""
    cells, width = n.size, rows.shape[1]
    total = int(n.sum())
    if total == 0:
        return np.zeros((cells, width), dtype=np.int64)
    if total >= _DIRECT_EVENTS:
        return np.asarray(rng.multinomial(n, rows[row_of_cell]), dtype=np.int64)
    cumulative = np.cumsum(rows, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative += np.arange(rows.shape[0])[:, None]
    cell = np.repeat(np.arange(cells), n)
    row = row_of_cell[cell]
    category = np.searchsorted(cumulative.ravel(), rng.random(cell.size) + row, side="right") - row * width
    category = np.clip(category, 0, width - 1)
    return np.bincount(cell * width + category, minlength=cells * width).reshape(cells, width).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class WindowModel:
    """One window's cell probabilities in one replicate; :meth:`draw` samples its aggregates.

    Cells that share a distribution share a row of ``rows`` (``row_of_cell[slot, group]``)."""

    kind: str  # "duration", "rate" or "units"
    window: Window
    shares: Float  # [slot, group]: the chance an event falls in the cell
    rows: Float  # [row, category]: durations (buckets, the budget's bucket split in two), units (rows per unit)
    row_of_cell: Int  # [slot, group]
    rates: Float  # [slot, group]: the hit probability (rates)
    first: int = 0  # durations: the bucket of category 0
    split: int | None = None  # durations: the category of the budget's bucket holding values under the budget
    budget: float | None = None

    def draw(self, n: int, rng: np.random.Generator) -> Counts:
        per_cell = rng.multinomial(n, self.shares.ravel()).astype(np.int64)
        shape = self.shares.shape
        if self.kind != "rate":
            counts = _draw_categories(per_cell, self.rows, self.row_of_cell.ravel(), rng)
            return Counts(self.window, per_cell.reshape(shape), counts.reshape((*shape, -1)), None)
        hits = rng.binomial(per_cell, self.rates.ravel()).astype(np.int64)
        return Counts(self.window, per_cell.reshape(shape), np.zeros((*shape, 0), dtype=np.int64), hits.reshape(shape))


@dataclass(frozen=True, slots=True, eq=False)
class Counts:
    """Drawn aggregates of one window; counts of more events of the same window add up."""

    window: Window
    n: Int
    categories: Int
    hits: Int | None

    def __add__(self, other: Counts) -> Counts:
        hits = None if self.hits is None or other.hits is None else self.hits + other.hits
        return Counts(self.window, self.n + other.n, self.categories + other.categories, hits)


def _rows(mixed: Float, inverse: Int) -> tuple[Float, Int]:
    """Distinct distributions ``mixed[unique slot, group or 1, category]`` as rows, and each cell's row."""
    kinds, groups, width = mixed.shape
    rows = np.array(mixed.reshape(kinds * groups, width))
    totals = rows.sum(axis=1)
    rows[totals <= 0, 0] = 1.0  # a group without tenants: never drawn from, but a distribution
    rows = rows / rows.sum(axis=1, keepdims=True)
    column = np.arange(_GROUPS) if groups > 1 else np.zeros(_GROUPS, dtype=np.int64)
    return rows, (inverse[:, None] * groups + column[None, :]).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class _SlotLaw:
    """Per slot of one window: the scale of the values (drift and the flags' effect included) and the
    share of the slot's events in incident hours."""

    profile: Profile
    scales: Float
    incidents: Float
    slowdown: float

    def cdf(self, slot: int, x: Float) -> Float:
        scaled = x / self.scales[slot]
        values = self.profile.shape.cdf(scaled)
        share = self.incidents[slot]
        if share:
            values = (1 - share) * values + share * self.profile.shape.cdf(scaled / self.slowdown)
        return values


def _slot_pmf(law: _SlotLaw, slot: int, prepared: _Prepared) -> Float:
    """The bucket probabilities of one slot's values (on a grid: the grid values' buckets)."""
    edges = BUCKET_BASE ** np.arange(prepared.first, prepared.first + prepared.buckets + 1, dtype=np.float64)
    grid = law.profile.grid
    if grid is None:
        cdf = law.cdf(slot, edges)
        cdf[0], cdf[-1] = 0.0, 1.0
        return np.asarray(np.diff(cdf), dtype=np.float64)
    points = grid * np.arange(1, math.ceil(edges[-1] / grid) + 1, dtype=np.float64)
    mass = np.diff(law.cdf(slot, np.concatenate(([0.0], points))))
    index = np.clip(np.floor(np.log(points) / _LOG_BASE).astype(np.int64) - prepared.first, 0, prepared.buckets - 1)
    return np.asarray(np.bincount(index, weights=mass, minlength=prepared.buckets), dtype=np.float64)


def _shift_weights(tenants: _Tenants, volume: Float, effect: Float, reach: int) -> tuple[Float, int]:
    """Per group, the volume share of each tenant effect in whole buckets, and the smallest shift."""
    if reach:
        shift = np.clip(np.rint(effect / _LOG_BASE).astype(np.int64), -reach, reach)
    else:
        shift = np.zeros(effect.size, dtype=np.int64)
    low, width = int(shift.min()), int(shift.max() - shift.min()) + 1
    weights = np.bincount(tenants.group * width + shift - low, weights=volume, minlength=_GROUPS * width)
    weights = weights.reshape(_GROUPS, width)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300), low


def _split_budget(
    pmf: Float, law: _SlotLaw, representative: list[int], weights: Float, low: int, first: int, budget: float
) -> tuple[Float, int]:
    """The budget's bucket cut in two categories, values strictly under the budget and the rest,
    from the values' distribution itself: the exact count the evidence query makes."""
    if law.profile.cap is not None and law.profile.cap < budget:
        raise ValueError("a cap under the budget puts every value under it")
    at = math.floor(math.log(budget) / _LOG_BASE) - first
    shifts = np.arange(low, low + weights.shape[1], dtype=np.float64)
    under = np.empty(pmf.shape[:2])
    for u, slot in enumerate(representative):
        grid = law.profile.grid
        if grid is not None:
            points = np.full(shifts.size, grid * (math.ceil(budget / grid) - 1))
        else:
            points = budget * (1 - 1e-12) * BUCKET_BASE**-shifts
        by_group = weights @ law.cdf(slot, points)
        under[u] = by_group if pmf.shape[1] > 1 else by_group[:1]
    inside = np.clip(under - pmf[:, :, :at].sum(axis=2), 0.0, pmf[:, :, at])
    parts = (pmf[:, :, :at], inside[:, :, None], (pmf[:, :, at] - inside)[:, :, None], pmf[:, :, at + 1 :])
    return np.concatenate(parts, axis=2), at


def _duration_model(
    scenario: Scenario, profile: Profile, window: Window, tenants: _Tenants, rng: np.random.Generator
) -> WindowModel:
    world = scenario.world
    assert isinstance(world, Durations)
    population = scenario.population
    prepared = _prepare(scenario)
    volume, effect = _window_tenants(scenario, tenants, rng)
    shares = _cell_shares(population, tenants.group, volume)
    incidents = _hour_shares(population.incident_hours, rng)
    scales = profile.scale * np.exp(population.drift_per_week / 7 * _slot_days(window))
    law = _SlotLaw(profile, scales, incidents, population.slowdown)
    # Slots that share a scale and an incident share share their distribution: compute each once.
    unique, inverse = np.unique(np.column_stack((scales, incidents)), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    representative = [int(np.flatnonzero(inverse == u)[0]) for u in range(unique.shape[0])]
    slot_pmf = np.stack([_slot_pmf(law, slot, prepared) for slot in representative])
    weights, low = _shift_weights(tenants, volume, effect, prepared.reach)
    first = prepared.first + low
    if weights.shape[1] > 1:
        pmf = np.clip(signal.fftconvolve(slot_pmf[:, None, :], weights[None, :, :], axes=2), 0.0, None)
    else:
        pmf = np.array(slot_pmf[:, None, :])
    if profile.cap is not None:
        at = math.floor(math.log(profile.cap) / _LOG_BASE) - first
        pmf[:, :, at] += pmf[:, :, at + 1 :].sum(axis=2)
        pmf[:, :, at + 1 :] = 0.0
    # Buckets no cell can reach cost draws for nothing: keep those with any mass (and the budget's).
    used = np.flatnonzero(pmf.max(axis=(0, 1)) > 1e-13)
    keep_low, keep_high = int(used[0]), int(used[-1])
    if world.budget is not None:
        at = math.floor(math.log(world.budget) / _LOG_BASE) - first
        keep_low, keep_high = min(keep_low, at), max(keep_high, at)
    pmf = pmf[:, :, keep_low : keep_high + 1]
    first += keep_low
    pmf = pmf / np.maximum(pmf.sum(axis=2, keepdims=True), 1e-300)
    split = None
    if world.budget is not None:
        pmf, split = _split_budget(pmf, law, representative, weights, low, first, world.budget)
    rows, row_of_cell = _rows(pmf, inverse)
    return WindowModel("duration", window, shares, rows, row_of_cell, np.zeros((0,)), first, split, world.budget)


def _rate_model(
    scenario: Scenario, which: int, window: Window, tenants: _Tenants, rng: np.random.Generator
) -> WindowModel:
    population = scenario.population
    prepared = _prepare(scenario)
    volume, effect = _window_tenants(scenario, tenants, rng)
    shares = _cell_shares(population, tenants.group, volume)
    p = special.expit(prepared.logit[which] + effect)
    by_group = np.bincount(tenants.group, weights=volume * p, minlength=_GROUPS) / np.maximum(
        np.bincount(tenants.group, weights=volume, minlength=_GROUPS), 1e-300
    )
    bursts = _hour_shares(population.burst_hours, rng)
    days = _slot_days(window)
    drift = population.drift_per_week / 7 * (days - 3.5)
    rates = by_group[None, :] + drift[:, None]
    rates = rates + (1 - rates) * population.burst_excess * bursts[:, None]
    return WindowModel(
        "rate", window, shares, np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64), np.clip(rates, 0.0, 1.0)
    )


def _unit_model(
    scenario: Scenario, which: int, window: Window, tenants: _Tenants, rng: np.random.Generator
) -> WindowModel:
    world = scenario.world
    assert isinstance(world, PerUnits)
    population = scenario.population
    prepared = _prepare(scenario)
    volume, effect = _window_tenants(scenario, tenants, rng)
    shares = _cell_shares(population, tenants.group, volume)
    rows = np.arange(_MAX_ROWS + 1, dtype=np.float64)
    if world.same_units:
        same = np.zeros((1, 1, rows.size))
        same[0, 0, 2 - which] = 1.0
        table_rows, row_of_cell = _rows(same, np.zeros(LAYOUT.slots, dtype=np.int64))
        return WindowModel("units", window, shares, table_rows, row_of_cell, np.zeros((0, 0)))
    step = np.rint(effect / _UNIT_STEP).astype(np.int64)
    low, high = int(step.min()), int(step.max())
    counted = np.bincount(
        tenants.group * (high - low + 1) + step - low, weights=volume, minlength=_GROUPS * (high - low + 1)
    ).reshape(_GROUPS, -1)
    weights = counted / np.maximum(counted.sum(axis=1, keepdims=True), 1e-300)
    levels = np.exp(np.arange(low, high + 1) * _UNIT_STEP)
    days = _slot_days(window)
    drift = np.exp(population.drift_per_week / 7 * (days - 3.5))
    unique, inverse = np.unique(drift, return_inverse=True)
    storm = _storm_pmf(world) if which == 1 and world.storms else None
    grouped = high > low
    mixed = np.empty((unique.size, _GROUPS if grouped else 1, rows.size))
    for u, factor in enumerate(unique):
        # 1 + Poisson(lam): the mean of rows, 1 + extra * level, drifts as a whole by ``factor``.
        lam = np.maximum(factor * (1 + prepared.extra[which] * levels) - 1, 1e-9)
        cdf = special.pdtr(rows[None, :-1], lam[:, None])
        table = np.zeros((levels.size, rows.size))
        table[:, 1:] = np.diff(np.concatenate((np.zeros((levels.size, 1)), cdf), axis=1), axis=1)
        table[:, -1] += 1 - table.sum(axis=1)
        table = weights @ table if grouped else table
        if storm is not None:
            table = (1 - world.storms) * table + world.storms * storm[None, :]
        mixed[u] = table
    table_rows, row_of_cell = _rows(mixed, inverse.ravel().astype(np.int64))
    return WindowModel("units", window, shares, table_rows, row_of_cell, np.zeros((0, 0)))


class Replicate:
    """One draw of the world: tenants and their persistent effects; each window (BASELINE, the
    POST of week ``k``) redraws its weekly effects, volume shifts, incidents and bursts."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.rng = rng
        self.tenants = _tenants(scenario, rng)

    def model(self, which: int, week: int = 1) -> WindowModel:
        window = baseline_window() if which == 0 else post_window(week)
        world = self.scenario.world
        if isinstance(world, Durations):
            profile = world.baseline if which == 0 else world.post
            return _duration_model(self.scenario, profile, window, self.tenants, self.rng)
        if isinstance(world, Rates):
            return _rate_model(self.scenario, which, window, self.tenants, self.rng)
        return _unit_model(self.scenario, which, window, self.tenants, self.rng)


# --- evidence from counts ------------------------------------------------------------------------------


CENSUS = Census(
    snapshot="simulated",
    checked_at=FLIP + timedelta(days=60),
    newest_event_at=FLIP + timedelta(days=59),
    future_rows=0,
    ancient_rows=0,
    null_created_at=0,
    null_event_type={},
    variants={},
    other_types={},
    duplicate_ids=None,
    unique_ids=True,
    index_advice=None,
)


def window_evidence(counts: Counts, model: WindowModel) -> WindowEvidence:
    """The :class:`WindowEvidence` the evidence query would return for these counts."""
    durations: dict[str, CellHistogram] = {}
    budgets: dict[str, Int] = {}
    rates: dict[str, CellRate] = {}
    units: dict[str, CellUnits] = {}
    event = "call"
    if model.kind == "rate":
        assert counts.hits is not None
        rates[RATE.name] = CellRate(counts.n, counts.hits)
    elif model.kind == "duration":
        buckets = counts.categories
        if model.split is not None and model.budget is not None:
            at = model.split
            budgets[budget_key(DURATION.name, float(model.budget))] = buckets[:, :, : at + 1].sum(axis=2)
            merged = (buckets[:, :, at] + buckets[:, :, at + 1])[:, :, None]
            buckets = np.concatenate((buckets[:, :, :at], merged, buckets[:, :, at + 2 :]), axis=2)
        durations[DURATION.name] = CellHistogram(buckets, model.first)
    else:
        event = "attempt"
        rows = np.arange(_MAX_ROWS + 1, dtype=np.int64)
        per_value = counts.categories.sum(axis=(0, 1))
        keep = np.flatnonzero(per_value)
        histogram = Histogram(rows[keep].astype(np.float64), per_value[keep]) if keep.size else None
        units[PER_UNIT.name] = CellUnits(
            counts.n, counts.categories @ rows, counts.categories @ (rows * rows), histogram
        )
    by_slot = counts.n.sum(axis=1).astype(np.int64)
    total = int(by_slot.sum())
    return WindowEvidence(
        window=counts.window,
        layout=LAYOUT,
        durations=durations,
        budgets=budgets,
        rates=rates,
        units=units,
        breakdowns={},
        mixes={},
        excluded={},
        events={event: total},
        events_by_slot={event: by_slot},
        flags={"on": total},
        demand_by_hour=np.zeros(0, dtype=np.int64),
        demand_by_group=np.zeros(0, dtype=np.int64),
    )


def evidence_of(base: WindowEvidence, post: WindowEvidence) -> Evidence:
    return Evidence(baseline=base, post=post, census=CENSUS)


def draw_evidence(scenario: Scenario, rng: np.random.Generator) -> Evidence:
    """One replicate's evidence of both windows."""
    replicate = Replicate(scenario, rng)
    base_model, post_model = replicate.model(0), replicate.model(1)
    base = window_evidence(base_model.draw(scenario.n_baseline, rng), base_model)
    post = window_evidence(post_model.draw(scenario.n_post, rng), post_model)
    return evidence_of(base, post)


# --- judging -------------------------------------------------------------------------------------------


def _passing_check(name: str) -> PreconditionCheck:
    return PreconditionCheck(
        GoalResult(
            goal=name,
            kind=Kind.PRECONDITION,
            title=name,
            measured=name,
            verdict=Verdict.PASS,
            estimate=None,
            interval=None,
            target=None,
            better=None,
            unit=PERCENT,
            value_unit=PERCENT,
            baseline=Observation(None, 0),
            post=Observation(None, 0),
            reason_code=None,
            reason="met (simulated)",
        )
    )


#: Every precondition met: the simulation judges the statistics alone.
CHECKS: Mapping[str, PreconditionCheck] = {p.name: _passing_check(p.name) for p in PRECONDITIONS}
#: Guardrails of the rollout (goals/): the FAIL side of a guardrail is shared among them.
GUARDRAILS = 3
#: Goals of the rollout: the placebo check's family.
PLACEBO_FAMILY = 8


def errors_for(goal: Goal, look: int = 1, thresholds: Thresholds | None = None) -> Errors:
    """The error rates ``run._judge_all`` gives ``goal`` at ``look``."""
    thresholds = thresholds or Thresholds()
    alpha = (1 - thresholds.confidence) / 2
    failing = alpha / GUARDRAILS if goal.kind is Kind.GUARDRAIL else alpha
    first = thresholds.first_look_share
    return Errors(
        passing=spend(alpha, look, first), failing=failing, next_passing=spend(alpha, look + 1, first), look=look
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a trial ended in: the verdict, its reason code, the look it came at, and whether the
    statistics alone (before the trend and placebo checks) said PASS at that look."""

    verdict: Verdict
    reason_code: str | None
    looks: int = 1
    statistics_pass: bool = False


#: Reason codes of a PASS withheld after the interval cleared the target.
WITHHELD = frozenset({"trend_could_explain", "trend_unknown", "placebo_fired", "too_many_excluded"})


def judge_once(goal: Goal, evidence: Evidence, errors: Errors, thresholds: Thresholds | None = None) -> GoalResult:
    from sprintgate.verdicts import judge  # noqa: PLC0415 - verdicts imports the whole engine

    return judge(
        goal,
        evidence,
        suite=SUITE,
        thresholds=thresholds or Thresholds(),
        checks=CHECKS,
        errors=errors,
        placebo_family=PLACEBO_FAMILY,
    )


def _outcome(result: GoalResult, look: int) -> Outcome:
    return Outcome(
        result.verdict, result.reason_code, look, result.verdict is Verdict.PASS or result.reason_code in WITHHELD
    )


def trial(
    scenario: Scenario,
    goal: Goal,
    rng: np.random.Generator,
    *,
    thresholds: Thresholds | None = None,
    observer: Callable[[Evidence], None] | None = None,
) -> Outcome:
    """One replicate judged once, at the first look; ``observer`` sees the same evidence."""
    evidence = draw_evidence(scenario, rng)
    if observer is not None:
        observer(evidence)
    return _outcome(judge_once(goal, evidence, errors_for(goal, 1, thresholds), thresholds), 1)


def rerun_more_events(
    scenario: Scenario,
    goal: Goal,
    rng: np.random.Generator,
    *,
    looks: int = 4,
    growth: float = 10.0,
    thresholds: Thresholds | None = None,
) -> Outcome:
    """A team that reruns after INCONCLUSIVE with the hint's "about N more events per window": the
    same windows' world, N more events in each (at most ``growth`` times the first sample per rerun),
    each rerun a new look that spends the PASS side's error; it stops at PASS, FAIL or no hint."""
    replicate = Replicate(scenario, rng)
    models = replicate.model(0), replicate.model(1)
    counts = [models[0].draw(scenario.n_baseline, rng), models[1].draw(scenario.n_post, rng)]
    first_n = max(scenario.n_baseline, scenario.n_post)
    statistics = False
    result: GoalResult | None = None
    for look in range(1, looks + 1):
        evidence = evidence_of(window_evidence(counts[0], models[0]), window_evidence(counts[1], models[1]))
        result = judge_once(goal, evidence, errors_for(goal, look, thresholds), thresholds)
        outcome = _outcome(result, look)
        statistics = statistics or outcome.statistics_pass
        more = result.more_events_needed
        if result.verdict is not Verdict.INCONCLUSIVE or not more or look == looks:
            return replace(outcome, statistics_pass=statistics)
        more = min(int(more), int(growth * first_n))
        share = scenario.n_post / max(scenario.n_baseline, scenario.n_post)
        base_more = round(more * scenario.n_baseline / max(scenario.n_baseline, scenario.n_post))
        counts = [
            counts[0] + models[0].draw(base_more, rng),
            counts[1] + models[1].draw(max(1, round(more * share)), rng),
        ]
    assert result is not None
    return _outcome(result, looks)


def rerun_weekly(
    scenario: Scenario, goal: Goal, rng: np.random.Generator, *, looks: int = 4, thresholds: Thresholds | None = None
) -> Outcome:
    """A team that reruns every week with a new POST (the same BASELINE) until PASS or FAIL, up to
    ``looks`` looks, each spending the PASS side's error."""
    replicate = Replicate(scenario, rng)
    base_model = replicate.model(0)
    base = window_evidence(base_model.draw(scenario.n_baseline, rng), base_model)
    statistics = False
    outcome = Outcome(Verdict.INCONCLUSIVE, None)
    for look in range(1, looks + 1):
        post_model = replicate.model(1, week=look)
        post = window_evidence(post_model.draw(scenario.n_post, rng), post_model)
        result = judge_once(goal, evidence_of(base, post), errors_for(goal, look, thresholds), thresholds)
        outcome = _outcome(result, look)
        statistics = statistics or outcome.statistics_pass
        if result.verdict is not Verdict.INCONCLUSIVE:
            break
    return replace(outcome, statistics_pass=statistics)


# --- scenarios by goal kind -------------------------------------------------------------------------------

#: The rollout's goal kinds with the targets the calibration is run at.
P95_RATIO = Goal(id="p95_ratio", metric=QuantileRatio(DURATION, q=0.95, at_most=0.70))
P95_BUDGET = Goal(id="p95_budget", metric=QuantileBudget(DURATION, q=0.95, below=2000.0))
MEAN_RATIO = Goal(id="mean_per_unit_ratio", metric=MeanRatio(PER_UNIT, at_most=0.50))
RATE_CEILING = Goal(id="rate_ceiling", metric=RateLimit(RATE, below="30%"))
RATE_POINTS = Goal(id="rate_points", kind=Kind.GUARDRAIL, metric=RateChange(RATE, better=Better.LOWER, points="5pt"))
RATE_RATIO = Goal(id="rate_ratio", kind=Kind.GUARDRAIL, metric=RateChange(RATE, better=Better.LOWER, ratio=1.5))
RATE_BOTH = Goal(
    id="rate_points_and_ratio",
    kind=Kind.GUARDRAIL,
    metric=RateChange(RATE, better=Better.LOWER, points="5pt", ratio=1.5),
)
QUOTE_ERRORS = Goal(
    id="quote_errors", kind=Kind.GUARDRAIL, metric=RateChange(RATE, better=Better.LOWER, points="1pt", ratio=1.5)
)
SUCCESS_POINTS = Goal(
    id="success_points", kind=Kind.GUARDRAIL, metric=RateChange(RATE, better=Better.HIGHER, points="5pt")
)

INDEPENDENT = Population(tenants=1000)


def durations_ratio(
    ratio: float,
    *,
    n: tuple[int, int] = (2000, 2000),
    population: Population = INDEPENDENT,
    shape: Shape | None = None,
    post_shape: Shape | None = None,
    grid: float | None = None,
    p95: float = 1000.0,
) -> Scenario:
    """Durations whose p95 over tenants, weeks and incidents is ``p95`` in BASELINE and exactly
    ``ratio`` times that in POST (``post_shape``: POST has another shape, rescaled to that p95)."""
    start = Profile(shape or LogNormal(), 1.0)
    base = scale_for_quantile(start, population, 0.95, p95)
    if post_shape is None:
        post = base.scaled(ratio)
    else:
        post = scale_for_quantile(Profile(post_shape, 1.0), population, 0.95, ratio * p95)
    if grid is not None:
        base, post = replace(base, grid=grid), replace(post, grid=grid)
    return Scenario(world=Durations(baseline=base, post=post), population=population, n_baseline=n[0], n_post=n[1])


def durations_budget(
    p95: float,
    *,
    n: tuple[int, int] = (2000, 2000),
    population: Population = INDEPENDENT,
    shape: Shape | None = None,
    budget: float = 2000.0,
    timeouts: float | None = None,
    cap: float | None = None,
) -> Scenario:
    """POST durations with a share 0.95 strictly under ``p95``; with ``timeouts``: that share of
    runs hit a timeout and are recorded at ``cap`` (default: the budget), whatever ``p95`` says."""
    profile = Profile(shape or LogNormal(), 1.0, cap=None if timeouts is None else (cap or budget))
    if timeouts is None:
        profile = scale_for_quantile(profile, population, 0.95, p95)
    else:
        profile = scale_for_quantile(profile, population, 1 - timeouts, cap or budget)
    world = Durations(baseline=profile, post=profile, budget=budget)
    return Scenario(world=world, population=population, n_baseline=n[0], n_post=n[1])


def units_ratio(
    ratio: float,
    *,
    n: tuple[int, int] = (2000, 2000),
    population: Population = INDEPENDENT,
    storms: float = 0.0,
    same: bool = False,
) -> Scenario:
    """Rows per unit whose mean in POST is exactly ``ratio`` times BASELINE's (``storms``: that share
    of POST units are retry storms of 50+ rows)."""
    world = PerUnits(ratio=ratio, storms=storms, same_units=same)
    return Scenario(world=world, population=population, n_baseline=n[0], n_post=n[1])


def rates(
    baseline: float, post: float, *, n: tuple[int, int] = (2000, 2000), population: Population = INDEPENDENT
) -> Scenario:
    """A rate of ``baseline`` in BASELINE and ``post`` in POST, over tenants and hours."""
    return Scenario(world=Rates(baseline=baseline, post=post), population=population, n_baseline=n[0], n_post=n[1])


# --- cells and their tallies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One cell of the calibration matrix: a goal, a truth at (or beyond) its target where every
    PASS is false, a clear effect where the PASS rate is the power, and how the team reruns."""

    label: str
    goal: Goal
    margin: Scenario
    clear: Scenario | None = None
    policy: str = "once"  # "once", "more_events" (rerun after INCONCLUSIVE with the hint), "weekly"
    compare: bool = False  # also the previous implementation's power (independent data only)
    group: str = ""

    def run(
        self, scenario: Scenario, rng: np.random.Generator, observer: Callable[[Evidence], None] | None = None
    ) -> Outcome:
        if self.policy == "more_events":
            return rerun_more_events(scenario, self.goal, rng)
        if self.policy == "weekly":
            return rerun_weekly(scenario, self.goal, rng)
        return trial(scenario, self.goal, rng, observer=observer)


@dataclass(frozen=True, slots=True)
class Tally:
    """How ``repetitions`` trials ended."""

    repetitions: int
    passes: int
    statistics_passes: int  # the interval cleared the target (before the trend and placebo checks)
    reasons: Mapping[str, int]  # verdict or reason code -> trials

    @property
    def rate(self) -> float:
        return self.passes / self.repetitions

    @property
    def statistics_rate(self) -> float:
        return self.statistics_passes / self.repetitions

    @property
    def standard_error(self) -> float:
        p = self.rate
        return math.sqrt(max(p * (1 - p), 1 / self.repetitions) / self.repetitions)


#: The target: false PASS at the margin at most 6 %, with this many Monte Carlo standard errors
#: (taken at 6 %) of allowance.
FALSE_PASS_LIMIT = 0.06
ALLOWED_ERRORS = 3


def false_pass_bound(repetitions: int) -> float:
    """The most false PASSes (as a share) that still meet the target at ``repetitions`` trials."""
    return FALSE_PASS_LIMIT + ALLOWED_ERRORS * math.sqrt(FALSE_PASS_LIMIT * (1 - FALSE_PASS_LIMIT) / repetitions)


def seed_of(label: str) -> int:
    return zlib.crc32(label.encode())


def tally(
    cell: Cell, scenario: Scenario, repetitions: int, stream: int, observer: Callable[[Evidence], None] | None = None
) -> Tally:
    """``repetitions`` trials of ``scenario`` under ``cell``'s goal and policy, seeded by the cell's
    label and ``stream`` (0 margin, 1 clear effect): the same numbers on every machine."""
    passes = statistics = 0
    reasons: dict[str, int] = {}
    base = seed_of(cell.label)
    for repetition in range(repetitions):
        outcome = cell.run(scenario, np.random.default_rng([base, stream, repetition]), observer)
        passes += outcome.verdict is Verdict.PASS
        statistics += outcome.statistics_pass
        key = outcome.verdict.value if outcome.reason_code is None else outcome.reason_code
        reasons[key] = reasons.get(key, 0) + 1
    return Tally(repetitions, passes, statistics, reasons)


#: The reduced matrix CI runs (tests/test_calibration.py) and ``bench/calibration.py --quick``:
#: a few cells per kind, with a clustered, a tied, a capped, a 10:1, a drift and a rerun cell.
CI_RATIO_CLUSTERED = Cell(
    label="p95 ratio, tenants ICC 5%, 200 tenants, 20,000 (power target)",
    goal=P95_RATIO,
    margin=durations_ratio(0.70, n=(20_000, 20_000), population=Population(tenants=200, icc=0.05)),
    clear=durations_ratio(0.50, n=(20_000, 20_000), population=Population(tenants=200, icc=0.05)),
    group="p95 ratio <= 0.70 (clear: 0.50)",
)
CI_RATIO_GRID = Cell(
    label="p95 ratio, values on a 100 ms grid (p95 1 s), 10,000",
    goal=P95_RATIO,
    margin=durations_ratio(0.70, n=(10_000, 10_000), grid=100.0),
    clear=durations_ratio(0.50, n=(10_000, 10_000), grid=100.0),
    compare=True,
    group="p95 ratio <= 0.70 (clear: 0.50)",
)
CI_RATIO_UNEQUAL = Cell(
    label="p95 ratio, BASELINE 10x POST (3,000 / 300)",
    goal=P95_RATIO,
    margin=durations_ratio(0.70, n=(3000, 300)),
    clear=durations_ratio(0.50, n=(3000, 300)),
    compare=True,
    group="p95 ratio <= 0.70 (clear: 0.50)",
)
CI_RATIO_DRIFT = Cell(
    label="p95 ratio, drift -5 %/week through both windows, 20,000",
    goal=P95_RATIO,
    margin=durations_ratio(0.70, n=(20_000, 20_000), population=Population(drift_per_week=math.log(0.95))),
    clear=durations_ratio(0.50, n=(20_000, 20_000), population=Population(drift_per_week=math.log(0.95))),
    group="p95 ratio <= 0.70 (clear: 0.50)",
)
CI_RATIO_WEEKLY = Cell(
    label="p95 ratio, weekly reruns, new POST (<= 4 looks), 2,000",
    goal=P95_RATIO,
    margin=durations_ratio(0.70, n=(2000, 2000)),
    clear=durations_ratio(0.50, n=(2000, 2000)),
    policy="weekly",
    group="p95 ratio <= 0.70 (clear: 0.50)",
)
CI_BUDGET_TIMEOUTS = Cell(
    label="p95 budget, 5 % timeouts recorded at 2000.0 ms (clear: 2 %), 20,000",
    goal=P95_BUDGET,
    margin=durations_budget(2000.0, n=(20_000, 20_000), timeouts=0.05),
    clear=durations_budget(2000.0, n=(20_000, 20_000), timeouts=0.02),
    group="p95 <= 2000 ms (clear: p95 1700 ms)",
)
CI_MEAN_STORMS = Cell(
    label="mean per unit, 1 % retry storms (50+ rows) in POST, 1,000 units",
    goal=MEAN_RATIO,
    margin=units_ratio(0.50, n=(1000, 1000), storms=0.01),
    clear=units_ratio(0.40, n=(1000, 1000), storms=0.01),
    compare=True,
    group="mean per unit ratio <= 0.50 (clear: 0.40)",
)
CI_CEILING_CLUSTERED = Cell(
    label="rate ceiling, tenants ICC 0.05, 500 tenants, 25,000",
    goal=RATE_CEILING,
    margin=rates(0.30, 0.30, n=(25_000, 25_000), population=Population(tenants=500, icc=0.05)),
    clear=rates(0.30, 0.26, n=(25_000, 25_000), population=Population(tenants=500, icc=0.05)),
    group="rate < 30 % (clear: 26 %)",
)
CI_POINTS_BURSTY = Cell(
    label="rate +5pt, bursty timeouts 8 % -> 13 % (3 burst h/window), 25,000",
    goal=RATE_POINTS,
    margin=rates(0.08, 0.13, n=(25_000, 25_000), population=Population(burst_hours=3.0)),
    clear=rates(0.08, 0.08, n=(25_000, 25_000), population=Population(burst_hours=3.0)),
    group="rate change (clear: no change)",
)
CI_RATIO_RARE = Cell(
    label="rate x1.5, rare 1 % -> 1.5 %, 10,000",
    goal=RATE_RATIO,
    margin=rates(0.01, 0.015, n=(10_000, 10_000)),
    clear=rates(0.01, 0.01, n=(10_000, 10_000)),
    group="rate change (clear: no change)",
)
CI_CELLS = (
    CI_RATIO_CLUSTERED,
    CI_RATIO_GRID,
    CI_RATIO_UNEQUAL,
    CI_RATIO_DRIFT,
    CI_RATIO_WEEKLY,
    CI_BUDGET_TIMEOUTS,
    CI_MEAN_STORMS,
    CI_CEILING_CLUSTERED,
    CI_POINTS_BURSTY,
    CI_RATIO_RARE,
)
