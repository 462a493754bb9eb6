"""The calibration matrix: how often the gate says PASS when the truth sits at the target, and when
the effect is clear, per goal kind and per shape of telemetry.

    nice -n 10 python bench/calibration.py [--quick] [--repetitions 1000] [--jobs 1] [--only TEXT]

Every cell draws seeded synthetic evidence (:mod:`sprintgate.simulation`) and judges it with
:func:`sprintgate.verdicts.judge`, preconditions met, at the error rates ``run._judge_all`` gives a
first look (PASS side: ``looks.spend(0.05, 1, first_look_share)``; FAIL side of a guardrail: 0.05
shared by the rollout's three guardrails). "False PASS" is the share of PASS verdicts when the truth
sits at the target (or beyond it: then every PASS is false); "power" the share of PASS verdicts at a
clear effect. Both carry their Monte Carlo standard error; a cell meets the target when its false
PASS rate is at most 6 % + 3 standard errors (taken at 6 %). "Interval alone" is the PASS rate before
the trend and placebo checks withhold a PASS. On independent data the previous implementation's
intervals (commit 3ebb586: rank bootstrap, order-statistic interval, delta method, Wilson,
Newcombe, all at a plain 90 %) are judged on the same evidence for the power comparison.

``--quick`` runs the CI subset (``simulation.CI_CELLS``, also run by tests/test_calibration.py).
The table is printed and written to reports/calibration/calibration.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from sprintgate import simulation as sim
from sprintgate.config import Thresholds
from sprintgate.evidence import Evidence, Histogram
from sprintgate.goals import Goal
from sprintgate.simulation import (
    CI_CELLS,
    INDEPENDENT,
    MEAN_RATIO,
    P95_BUDGET,
    P95_RATIO,
    QUOTE_ERRORS,
    RATE_BOTH,
    RATE_CEILING,
    RATE_POINTS,
    RATE_RATIO,
    SUCCESS_POINTS,
    Bimodal,
    Cell,
    Pareto,
    Population,
    Tally,
    durations_budget,
    durations_ratio,
    rates,
    units_ratio,
)
from sprintgate.verdict import Better

REPORT = Path("reports/calibration/calibration.md")
DRIFT = math.log(0.95)  # latency (or attempts) down 5 % a week, through both windows


# --- the previous implementation's intervals (git show 3ebb586:src/sprintgate/stats.py) -------------


@dataclass(frozen=True, slots=True)
class OldInterval:
    low: float
    high: float


def _old_decide(interval: OldInterval | None, target: float, better: Better) -> bool:
    """The old rule: PASS when the whole 90 % interval lies on the good side."""
    if interval is None:
        return False
    return interval.high < target if better is Better.LOWER else interval.low > target


def _smallest(n: int, holds: Callable[[int], bool]) -> int:
    low, high = -1, n
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def _old_ranks(n: int, q: float, level: float) -> tuple[int, int] | None:
    half = (1 - level) / 2
    low = _smallest(n, lambda k: float(special.bdtr(k, n, q)) >= half)
    high = _smallest(n, lambda k: float(special.bdtrc(k, n, q)) <= half) + 1
    if low < 1 or high > n:
        return None
    return low, high


def _order_statistic(histogram: Histogram, ranks: np.ndarray) -> np.ndarray:
    return np.asarray(histogram.values[np.searchsorted(np.cumsum(histogram.counts), ranks, side="left")])


def old_quantile_ratio(
    post: Histogram, base: Histogram, q: float, level: float, rng: np.random.Generator, draws: int = 20_000
) -> OldInterval | None:
    """The resampling-free rank bootstrap of the ratio of quantiles, percentile interval."""
    if _old_ranks(post.n, q, level) is None or _old_ranks(base.n, q, level) is None:
        return None
    statistic = post.quantile(q) / base.quantile(q)

    def resampled(histogram: Histogram) -> np.ndarray:
        n = histogram.n
        m = max(1, math.ceil(q * n))
        ranks = np.clip(np.ceil(n * rng.beta(m, n - m + 1, size=draws)), 1, n)
        return _order_statistic(histogram, ranks)

    logs = np.log(resampled(post)) - np.log(resampled(base))
    half = (1 - level) / 2
    low, high = np.exp(np.quantile(logs, [half, 1 - half]))
    return OldInterval(float(min(low, statistic)), float(max(high, statistic)))


def old_quantile(histogram: Histogram, q: float, level: float) -> OldInterval | None:
    ranks = _old_ranks(histogram.n, q, level)
    if ranks is None:
        return None
    low, high = _order_statistic(histogram, np.array(ranks))
    return OldInterval(float(low), float(high))


def old_mean_ratio(
    post: tuple[float, float, float], base: tuple[float, float, float], level: float
) -> OldInterval | None:
    """Delta method on the log ratio, Welch-Satterthwaite t; moments are (n, sum, sum of squares)."""
    (n1, s1, q1), (n0, s0, q0) = post, base
    if n1 < 2 or n0 < 2:
        return None
    m1, m0 = s1 / n1, s0 / n0
    v1, v0 = max(0.0, (q1 - n1 * m1 * m1) / (n1 - 1)), max(0.0, (q0 - n0 * m0 * m0) / (n0 - 1))
    parts = (v1 / (n1 * m1 * m1), v0 / (n0 * m0 * m0))
    variance = sum(parts)
    statistic = m1 / m0
    if variance == 0:
        return OldInterval(statistic, statistic)
    dof = variance**2 / (parts[0] ** 2 / (n1 - 1) + parts[1] ** 2 / (n0 - 1))
    half = float(special.stdtrit(dof, 1 - (1 - level) / 2)) * math.sqrt(variance)
    return OldInterval(math.exp(math.log(statistic) - half), math.exp(math.log(statistic) + half))


def _old_wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def old_wilson(k: float, n: float, level: float) -> OldInterval | None:
    if n == 0:
        return None
    low, high = _old_wilson(k, n, float(special.ndtri(1 - (1 - level) / 2)))
    return OldInterval(low, high)


def old_newcombe(k1: float, n1: float, k0: float, n0: float, level: float) -> OldInterval | None:
    if n1 == 0 or n0 == 0:
        return None
    z = float(special.ndtri(1 - (1 - level) / 2))
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = _old_wilson(k1, n1, z)
    l0, u0 = _old_wilson(k0, n0, z)
    d = p1 - p0
    return OldInterval(
        max(-1.0, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)),
        min(1.0, d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)),
    )


def old_pass(cell: Cell, evidence: Evidence, rng: np.random.Generator) -> bool | None:
    """Whether the previous implementation would have said PASS on ``evidence`` (``None``: it had no
    such goal)."""
    level = Thresholds().confidence
    goal = cell.goal
    if goal.id == P95_RATIO.id:
        post, base = (w.durations[sim.DURATION.name].histogram() for w in (evidence.post, evidence.baseline))
        return _old_decide(old_quantile_ratio(post, base, 0.95, level, rng), 0.70, Better.LOWER)
    if goal.id == P95_BUDGET.id:
        return _old_decide(
            old_quantile(evidence.post.durations[sim.DURATION.name].histogram(), 0.95, level), 2000.0, Better.LOWER
        )
    if goal.id == MEAN_RATIO.id:
        moments = [
            (float(u.units.sum()), float(u.total.sum()), float(u.squares.sum()))
            for u in (w.units[sim.PER_UNIT.name] for w in (evidence.post, evidence.baseline))
        ]
        return _old_decide(old_mean_ratio(moments[0], moments[1], level), 0.50, Better.LOWER)
    post_rate, base_rate = evidence.post.rates[sim.RATE.name], evidence.baseline.rates[sim.RATE.name]
    if goal.id == RATE_CEILING.id:
        hits, n = post_rate.total
        return _old_decide(old_wilson(hits, n, level), 0.30, Better.LOWER)
    if goal.id in (RATE_POINTS.id, SUCCESS_POINTS.id):
        (k1, n1), (k0, n0) = post_rate.total, base_rate.total
        target, better = (0.05, Better.LOWER) if goal.id == RATE_POINTS.id else (-0.05, Better.HIGHER)
        return _old_decide(old_newcombe(k1, n1, k0, n0, level), target, better)
    return None


# --- the matrix ------------------------------------------------------------------------------------------


def _p(**kwargs: float) -> Population:
    return Population(**kwargs)  # type: ignore[arg-type]


def _ratio_cells() -> list[Cell]:
    cells: list[Cell] = []

    def add(
        label: str,
        *,
        n: tuple[int, int],
        population: Population = INDEPENDENT,
        compare: bool = False,
        policy: str = "once",
        **shape: object,
    ) -> None:
        cells.append(
            Cell(
                label=f"p95 ratio, {label}",
                goal=P95_RATIO,
                margin=durations_ratio(0.70, n=n, population=population, **shape),  # type: ignore[arg-type]
                clear=durations_ratio(0.50, n=n, population=population, **shape),  # type: ignore[arg-type]
                compare=compare and not population.clustered,
                policy=policy,
                group="p95 ratio <= 0.70 (clear: 0.50)",
            )
        )

    for n in (30, 200, 2000, 20_000, 100_000):
        add(f"independent lognormal, {n:,}", n=(n, n), compare=True)
    add("Pareto tail (index 1.5), 2,000", n=(2000, 2000), shape=Pareto(1.5), compare=True)
    add("Pareto tail (index 1.5), 20,000", n=(20_000, 20_000), shape=Pareto(1.5), compare=True)
    for n in (2000, 20_000):
        add(
            f"bimodal, fast share 50 % -> 90 % in POST, {n:,}",
            n=(n, n),
            shape=Bimodal(0.5),
            post_shape=Bimodal(0.9),
            compare=True,
        )
    for grid in (1.0, 10.0, 100.0):
        add(f"values on a {grid:g} ms grid (p95 1 s), 10,000", n=(10_000, 10_000), grid=grid, compare=True)
    add("values on a 1000 ms grid (p95 10 s), 10,000", n=(10_000, 10_000), grid=1000.0, p95=10_000.0, compare=True)
    for windows in ((1000, 100), (2000, 200), (3000, 300), (20_000, 2000)):
        add(f"BASELINE 10x POST ({windows[0]:,} / {windows[1]:,})", n=windows, compare=True)
    for icc in (0.01, 0.05, 0.15):
        add(
            f"restaurants ICC {icc:.0%}, 1,000 restaurants, 20,000",
            n=(20_000, 20_000),
            population=_p(tenants=1000, icc=icc),
        )
    add(
        "restaurants ICC 5%, 200 restaurants, 20,000 (power target)",
        n=(20_000, 20_000),
        population=_p(tenants=200, icc=0.05),
    )
    add(
        "restaurants ICC 15%, 5,000 restaurants, 100,000",
        n=(100_000, 100_000),
        population=_p(tenants=5000, icc=0.15),
    )
    add("restaurants ICC 15%, 300 restaurants, 2,000", n=(2000, 2000), population=_p(tenants=300, icc=0.15))
    for restaurants in (12, 24):
        add(
            f"restaurants ICC 15%, only {restaurants} restaurants (skewed volumes), 20,000",
            n=(20_000, 20_000),
            population=_p(tenants=restaurants, icc=0.15),
        )
    for n in (2000, 20_000, 100_000):
        add(f"restaurant x week ICC 1.1%, {n:,}", n=(n, n), population=_p(tenants=1000, weekly_icc=0.011))
    for icc in (0.04, 0.15):
        add(
            f"restaurant x week ICC {icc:.0%}, 20,000",
            n=(20_000, 20_000),
            population=_p(tenants=1000, weekly_icc=icc),
        )
    for shift in (0.5, 1.0):
        add(
            f"ICC 5% + volume shifts (log-sd {shift:g}) week to week, 20,000",
            n=(20_000, 20_000),
            population=_p(tenants=1000, icc=0.05, volume_shift=shift),
        )
    add("incidents (4 h/window, x2 slower), 20,000", n=(20_000, 20_000), population=_p(incident_hours=4, slowdown=2.0))
    add(
        "incidents (8 h/window, x3 slower), 100,000",
        n=(100_000, 100_000),
        population=_p(incident_hours=8, slowdown=3.0),
    )
    for n in (2000, 20_000, 100_000):
        add(f"drift -5 %/week through both windows, {n:,}", n=(n, n), population=_p(drift_per_week=DRIFT))
    add("rerun after INCONCLUSIVE with 'N more events' (<= 4 looks), 2,000", n=(2000, 2000), policy="more_events")
    add(
        "rerun after INCONCLUSIVE with 'N more events', ICC 5%, 5,000",
        n=(5000, 5000),
        population=_p(tenants=500, icc=0.05),
        policy="more_events",
    )
    add("weekly reruns, new POST (<= 4 looks), 2,000", n=(2000, 2000), policy="weekly")
    add(
        "weekly reruns, restaurant x week ICC 1.1%, 20,000",
        n=(20_000, 20_000),
        population=_p(tenants=1000, weekly_icc=0.011),
        policy="weekly",
    )
    return cells


def _budget_cells() -> list[Cell]:
    cells: list[Cell] = []
    group = "p95 <= 2000 ms (clear: p95 1700 ms)"

    def add(label: str, margin: sim.Scenario, clear: sim.Scenario | None, *, compare: bool = False) -> None:
        cells.append(
            Cell(
                label=f"p95 budget, {label}", goal=P95_BUDGET, margin=margin, clear=clear, compare=compare, group=group
            )
        )

    for n in (30, 200, 2000, 20_000, 100_000):
        add(
            f"independent lognormal, {n:,}",
            durations_budget(2000.0, n=(n, n)),
            durations_budget(1700.0, n=(n, n)),
            compare=True,
        )
    for n in (2000, 20_000):
        add(
            f"5 % timeouts recorded at 2000.0 ms (clear: 2 %), {n:,}",
            durations_budget(2000.0, n=(n, n), timeouts=0.05),
            durations_budget(2000.0, n=(n, n), timeouts=0.02),
        )
    for share in (0.06, 0.10):
        for cap in (2000.0, 2000.4):
            add(
                f"{share:.0%} timeouts at {cap:.1f} ms (beyond the target), 20,000",
                durations_budget(2000.0, n=(20_000, 20_000), timeouts=share, cap=cap),
                None,
            )
    add(
        "Pareto tail (index 1.5), 20,000",
        durations_budget(2000.0, n=(20_000, 20_000), shape=Pareto(1.5)),
        durations_budget(1700.0, n=(20_000, 20_000), shape=Pareto(1.5)),
    )
    clustered = {
        "restaurants ICC 5%, 200 restaurants, 20,000": _p(tenants=200, icc=0.05),
        "restaurants ICC 15%, 1,000 restaurants, 100,000": _p(tenants=1000, icc=0.15),
        "restaurants ICC 15%, only 12 restaurants (skewed volumes), 20,000": _p(tenants=12, icc=0.15),
        "restaurants ICC 5%, only 24 restaurants (skewed volumes), 20,000": _p(tenants=24, icc=0.05),
        "restaurant x week ICC 4%, 20,000": _p(tenants=1000, weekly_icc=0.04),
        "incidents (4 h/window, x2 slower), 20,000": _p(incident_hours=4),
    }
    for label, population in clustered.items():
        add(
            label,
            durations_budget(
                2000.0, n=(20_000, 20_000) if "100,000" not in label else (100_000, 100_000), population=population
            ),
            durations_budget(1700.0, n=(20_000, 20_000), population=population),
        )
    return cells


def _mean_cells() -> list[Cell]:
    cells: list[Cell] = []
    group = "mean per unit ratio <= 0.50 (clear: 0.40)"

    def add(
        label: str,
        *,
        n: tuple[int, int],
        population: Population = INDEPENDENT,
        storms: float = 0.0,
        compare: bool = False,
        clear: bool = True,
    ) -> None:
        cells.append(
            Cell(
                label=f"mean per unit, {label}",
                goal=MEAN_RATIO,
                margin=units_ratio(0.50, n=n, population=population, storms=storms),
                clear=units_ratio(0.40, n=n, population=population, storms=storms) if clear else None,
                compare=compare and not population.clustered,
                group=group,
            )
        )

    for n in (100, 400, 1000, 5000, 20_000):
        add(f"independent, {n:,} units", n=(n, n), compare=True)
    for n in (20, 100, 300, 1000, 5000):
        add(f"1 % retry storms (50+ rows) in POST, {n:,} units", n=(n, n), storms=0.01, compare=True)
    for n in (400, 1000):
        heavy = sim.Scenario(
            world=sim.PerUnits(ratio=0.5, storms=0.005, storm_min=100, storm_mean=150.0), n_baseline=n, n_post=n
        )
        cells.append(
            Cell(
                label=f"mean per unit, rarer heavier storms (0.5 %, 100+ rows, mean 150) in POST, {n:,} units",
                goal=MEAN_RATIO,
                margin=heavy,
                group=group,
            )
        )
    for n in (2, 20):
        cells.append(
            Cell(
                label=f"mean per unit, zero spread (every unit 2 rows, then 1), {n} units",
                goal=MEAN_RATIO,
                margin=units_ratio(0.5, n=(n, n), same=True),
                group=group,
            )
        )
    add(
        "restaurants ICC 5%, 1,000 restaurants, 20,000 units",
        n=(20_000, 20_000),
        population=_p(tenants=1000, icc=0.05),
    )
    add("restaurant x week ICC 5%, 20,000 units", n=(20_000, 20_000), population=_p(tenants=1000, weekly_icc=0.05))
    add("drift -5 %/week, 5,000 units", n=(5000, 5000), population=_p(drift_per_week=DRIFT))
    add("BASELINE 10x POST (10,000 / 1,000 units)", n=(10_000, 1000), compare=True)
    return cells


def _rate_cells() -> list[Cell]:
    cells: list[Cell] = []
    ceiling = "rate < 30 % (clear: 26 %)"
    change = "rate change (clear: no change)"

    def add(
        label: str,
        goal: Goal,
        margin: sim.Scenario,
        clear: sim.Scenario | None,
        group: str,
        *,
        compare: bool = False,
        policy: str = "once",
    ) -> None:
        cells.append(
            Cell(label=label, goal=goal, margin=margin, clear=clear, compare=compare, group=group, policy=policy)
        )

    for n in (30, 300, 3000, 30_000, 100_000):
        add(
            f"rate ceiling, independent, {n:,}",
            RATE_CEILING,
            rates(0.3, 0.3, n=(n, n)),
            rates(0.3, 0.26, n=(n, n)),
            ceiling,
            compare=True,
        )
    for icc in (0.01, 0.05, 0.10):
        for n, restaurants in ((25_000, 500), (100_000, 5000)):
            population = _p(tenants=restaurants, icc=icc)
            add(
                f"rate ceiling, restaurants ICC {icc:.2f}, {restaurants:,} restaurants, {n:,}",
                RATE_CEILING,
                rates(0.3, 0.3, n=(n, n), population=population),
                rates(0.3, 0.26, n=(n, n), population=population),
                ceiling,
            )
    for icc, restaurants in ((0.15, 200), (0.05, 12), (0.15, 12), (0.05, 24)):
        population = _p(tenants=restaurants, icc=icc)
        add(
            f"rate ceiling, restaurants ICC {icc:.2f}, only {restaurants} restaurants, 25,000"
            if restaurants < 100
            else f"rate ceiling, restaurants ICC {icc:.2f}, {restaurants} restaurants, 25,000",
            RATE_CEILING,
            rates(0.3, 0.3, n=(25_000, 25_000), population=population),
            rates(0.3, 0.26, n=(25_000, 25_000), population=population),
            ceiling,
        )
    weekly = _p(tenants=1000, weekly_icc=0.05)
    add(
        "rate ceiling, restaurant x week ICC 0.05, 25,000",
        RATE_CEILING,
        rates(0.3, 0.3, n=(25_000, 25_000), population=weekly),
        rates(0.3, 0.26, n=(25_000, 25_000), population=weekly),
        ceiling,
    )
    bursty = _p(burst_hours=3.0)
    add(
        "rate ceiling, bursts (3 h/window), 25,000",
        RATE_CEILING,
        rates(0.3, 0.3, n=(25_000, 25_000), population=bursty),
        rates(0.3, 0.26, n=(25_000, 25_000), population=bursty),
        ceiling,
    )
    add(
        "rate ceiling, rerun after INCONCLUSIVE with 'N more events', 3,000",
        RATE_CEILING,
        rates(0.3, 0.3, n=(3000, 3000)),
        rates(0.3, 0.26, n=(3000, 3000)),
        ceiling,
        policy="more_events",
    )

    for n in (300, 3000, 30_000):
        add(
            f"rate +5pt, independent 20 % -> 25 %, {n:,}",
            RATE_POINTS,
            rates(0.20, 0.25, n=(n, n)),
            rates(0.20, 0.20, n=(n, n)),
            change,
            compare=True,
        )
    clustered = _p(tenants=500, icc=0.05)
    add(
        "rate +5pt, restaurants ICC 0.05, 25,000",
        RATE_POINTS,
        rates(0.20, 0.25, n=(25_000, 25_000), population=clustered),
        rates(0.20, 0.20, n=(25_000, 25_000), population=clustered),
        change,
    )
    for hours in (3.0, 10.0):
        bursts = _p(burst_hours=hours)
        add(
            f"rate +5pt, bursty timeouts 8 % -> 13 % ({hours:g} burst h/window), 25,000",
            RATE_POINTS,
            rates(0.08, 0.13, n=(25_000, 25_000), population=bursts),
            rates(0.08, 0.08, n=(25_000, 25_000), population=bursts),
            change,
        )
    drift = _p(drift_per_week=-0.01)
    add(
        "rate +5pt, drift -1 pt/week, 10,000",
        RATE_POINTS,
        rates(0.20, 0.25, n=(10_000, 10_000), population=drift),
        rates(0.20, 0.20, n=(10_000, 10_000), population=drift),
        change,
    )
    add(
        "rate +5pt, BASELINE 10x POST (10,000 / 1,000)",
        RATE_POINTS,
        rates(0.20, 0.25, n=(10_000, 1000)),
        rates(0.20, 0.20, n=(10_000, 1000)),
        change,
        compare=True,
    )
    add(
        "rate not down 5pt, success 90 % -> 85 %, 3,000",
        SUCCESS_POINTS,
        rates(0.90, 0.85, n=(3000, 3000)),
        rates(0.90, 0.90, n=(3000, 3000)),
        change,
        compare=True,
    )
    for n in (10_000, 100_000):
        add(
            f"rate x1.5, rare 1 % -> 1.5 %, {n:,}",
            RATE_RATIO,
            rates(0.01, 0.015, n=(n, n)),
            rates(0.01, 0.01, n=(n, n)),
            change,
        )
    add(
        "rate x1.5, very rare 0.1 % -> 0.15 %, 10,000",
        RATE_RATIO,
        rates(0.001, 0.0015, n=(10_000, 10_000)),
        rates(0.001, 0.001, n=(10_000, 10_000)),
        change,
    )
    add(
        "rate +5pt and x1.5, 10 % -> 15 % (both at the limit), 10,000",
        RATE_BOTH,
        rates(0.10, 0.15, n=(10_000, 10_000)),
        rates(0.10, 0.10, n=(10_000, 10_000)),
        change,
    )
    add(
        "quote errors 0.1 % -> 0.8 % vs +1pt and x1.5 (beyond), 10,000",
        QUOTE_ERRORS,
        rates(0.001, 0.008, n=(10_000, 10_000)),
        rates(0.001, 0.001, n=(10_000, 10_000)),
        change,
    )
    return cells


def matrix() -> list[Cell]:
    """Every cell, by kind; the CI subset (``simulation.CI_CELLS``) among them, each once."""
    ci = {c.label: c for c in CI_CELLS}
    cells: list[Cell] = []
    for cell in (*_ratio_cells(), *_budget_cells(), *_mean_cells(), *_rate_cells()):
        if all(c.label != cell.label for c in cells):
            cells.append(ci.pop(cell.label, cell))
    return cells + list(ci.values())


# --- running -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    cell: Cell
    margin: Tally
    clear: Tally | None
    old: tuple[int, int] | None  # previous implementation: (passes, trials) at the clear effect
    seconds: float

    @property
    def meets(self) -> bool:
        return self.margin.rate <= sim.false_pass_bound(self.margin.repetitions)


def run_cell(cell: Cell, repetitions: int, clear_repetitions: int) -> Row:
    started = time.perf_counter()
    margin = sim.tally(cell, cell.margin, repetitions, 0)
    clear = None
    old: tuple[int, int] | None = None
    if cell.clear is not None:
        passes: list[bool] = []
        observer = None
        if cell.compare:
            rng = np.random.default_rng([sim.seed_of(cell.label), 2])

            def observe(evidence: Evidence) -> None:
                verdict = old_pass(cell, evidence, rng)
                if verdict is not None:
                    passes.append(verdict)

            observer = observe
        clear = sim.tally(cell, cell.clear, clear_repetitions, 1, observer)
        old = (sum(passes), len(passes)) if passes else None
    return Row(cell, margin, clear, old, time.perf_counter() - started)


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _reasons(tally: Tally) -> str:
    top = sorted(tally.reasons.items(), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{k} {100 * v / tally.repetitions:.0f}%" for k, v in top)


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| cell | false PASS at the margin (± SE) | interval alone | target | power at the clear effect (± SE) | interval alone | previous implementation | margin verdicts | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    group = None
    for row in rows:
        if row.cell.group != group:
            group = row.cell.group
            lines.append(f"| **{group}** | | | | | | | | |")
        margin, clear = row.margin, row.clear
        power = "n/a" if clear is None else f"{_pct(clear.rate)} ± {_pct(clear.standard_error)}"
        power_alone = "n/a" if clear is None else _pct(clear.statistics_rate)
        old = ""
        if row.old is not None and clear is not None:
            before = row.old[0] / row.old[1]
            gap = 100 * (clear.rate - before)
            old = f"{_pct(before)} ({gap:+.0f} pt{', **> 10 pt below**' if gap < -10 else ''})"
        mark = "ok" if row.meets else f"**MISSED** (> {_pct(sim.false_pass_bound(margin.repetitions))})"
        lines.append(
            f"| {row.cell.label} | {_pct(margin.rate)} ± {_pct(margin.standard_error)} | {_pct(margin.statistics_rate)} | {mark} | "
            f"{power} | {power_alone} | {old} | {_reasons(margin)} | {row.seconds:.0f} |"
        )
    return "\n".join(lines)


def _run(args: tuple[Cell, int, int]) -> Row:
    return run_cell(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the CI subset (simulation.CI_CELLS)")
    parser.add_argument(
        "--repetitions", type=int, default=1000, help="trials at the margin per cell (the clear effect gets a third)"
    )
    parser.add_argument(
        "--clear-repetitions", type=int, default=0, help="trials at the clear effect (default: a third)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--only", default="", help="only cells whose label contains this text")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args()
    cells = list(CI_CELLS) if args.quick else matrix()
    cells = [c for c in cells if args.only.lower() in c.label.lower()]
    clear_repetitions = args.clear_repetitions or max(100, args.repetitions // 3)
    for cell in cells:  # every truth solved up front: a scenario that cannot exist fails here, not mid-run
        for scenario in (cell.margin, cell.clear):
            if scenario is not None:
                sim.prepare(scenario)
    started = time.perf_counter()
    work = [(c, args.repetitions, clear_repetitions) for c in cells]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(_run, work))
    else:
        rows = []
        for item in work:
            rows.append(_run(item))
            row = rows[-1]
            print(f"{row.cell.label}: {_pct(row.margin.rate)} false PASS, {row.seconds:.0f} s", flush=True)
    rows.sort(key=lambda r: cells.index(r.cell))
    elapsed = time.perf_counter() - started
    command = (
        f"nice -n 10 python bench/calibration.py{' --quick' if args.quick else ''} --repetitions {args.repetitions}"
        f" --clear-repetitions {clear_repetitions} --jobs {args.jobs}"
    )
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}, numpy {np.__version__}"
    thresholds = Thresholds()
    header = (
        f"Made by `{command}` in {elapsed / 60:.1f} minutes on {machine}.\n"
        f"Margin: {args.repetitions:,} trials per cell; clear effect: {clear_repetitions:,}. Confidence {thresholds.confidence:.0%}, "
        f"first_look_share {thresholds.first_look_share}, min_clusters {thresholds.min_clusters}; layout 14 slots x 16 groups.\n"
        f"Target: false PASS <= 6 % + 3 SE (at 6 %). {sum(r.meets for r in rows)} of {len(rows)} cells meet it.\n"
    )
    text = header + "\n" + table(rows) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
