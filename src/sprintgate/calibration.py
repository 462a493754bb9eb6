"""Simulation of the decision rule: how often each method says PASS when the truth sits exactly at
the target (must be at most alpha/2 = 5 % at 90 % confidence) and when the effect is clear (power).

Used by the fast calibration tests and, with many more repetitions, by ``bench/calibration.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sprintgate import stats
from sprintgate.stats import Histogram
from sprintgate.verdict import Better, Verdict, decide

Trial = Callable[[np.random.Generator, int, float], stats.Estimate]


def _latencies(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    # Lognormal body with a heavy tail: 4 % of events six times slower.
    median = np.where(rng.random(n) < 0.04, 2500.0, 420.0) * scale
    return np.asarray(rng.lognormal(np.log(median), 0.55))


def _attempts(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    # One plus a negative binomial with shape 2: overdispersed like real retries.
    return 1 + rng.negative_binomial(2.0, 2.0 / (2.0 + mean - 1.0), n)


def quantile_ratio_trial(rng: np.random.Generator, n: int, true_ratio: float) -> stats.Estimate:
    base, post = _latencies(rng, n, 1.0), _latencies(rng, n, true_ratio)
    return stats.quantile_ratio_interval(
        Histogram.of_durations(post), Histogram.of_durations(base), 0.95, 0.90, seed=int(rng.integers(2**31))
    )


def quantile_budget_trial(rng: np.random.Generator, n: int, true_p95: float) -> stats.Estimate:
    # Scale a lognormal so that its true p95 is exactly true_p95.
    sigma = 0.45
    median = true_p95 / np.exp(1.6448536269514722 * sigma)
    return stats.quantile_interval(Histogram.of_durations(rng.lognormal(np.log(median), sigma, n)), 0.95, 0.90)


def mean_ratio_trial(rng: np.random.Generator, n: int, true_ratio: float) -> stats.Estimate:
    base_mean = 4.0
    base, post = _attempts(rng, n, base_mean), _attempts(rng, n, base_mean * true_ratio)
    return stats.mean_ratio_interval(Histogram.of_values(post).moments(), Histogram.of_values(base).moments(), 0.90)


def proportion_trial(rng: np.random.Generator, n: int, true_rate: float) -> stats.Estimate:
    return stats.wilson_interval(int(rng.binomial(n, true_rate)), n, 0.90)


def difference_trial(rng: np.random.Generator, n: int, true_difference: float) -> stats.Estimate:
    base = 0.80
    return stats.proportion_difference_interval(
        int(rng.binomial(n, base + true_difference)), n, int(rng.binomial(n, base)), n, 0.90
    )


@dataclass(frozen=True, slots=True)
class Case:
    """One method with its target, where the truth sits at the margin, and a clear effect."""

    name: str
    trial: Trial
    target: float
    better: Better
    margin_truth: float
    clear_truth: float


CASES = (
    Case("p95 ratio <= 0.70", quantile_ratio_trial, 0.70, Better.LOWER, 0.70, 0.50),
    Case("p95 <= 2000 ms", quantile_budget_trial, 2000.0, Better.LOWER, 2000.0, 1700.0),
    Case("mean attempts ratio <= 0.50", mean_ratio_trial, 0.50, Better.LOWER, 0.50, 0.40),
    Case("cache hit rate < 0.30", proportion_trial, 0.30, Better.LOWER, 0.30, 0.26),
    Case("success rate not worse by > 5 points", difference_trial, -0.05, Better.HIGHER, -0.05, 0.0),
)


def pass_rate(case: Case, truth: float, *, n: int, repetitions: int, seed: int) -> float:
    """The share of simulated runs that PASS when the true value is ``truth``."""
    rng = np.random.default_rng(seed)
    passes = 0
    for _ in range(repetitions):
        estimate = case.trial(rng, n, truth)
        if estimate.interval is not None and decide(estimate.interval, case.target, case.better) is Verdict.PASS:
            passes += 1
    return passes / repetitions


#: The placebo comparisons of the eight goals: three duration ratios, one mean ratio, four rates.
_PLACEBO_FAMILY: tuple[Callable[[np.random.Generator, int, float], tuple[stats.Estimate, float]], ...] = (
    *(
        (
            lambda rng, n, level: (
                stats.quantile_ratio_interval(
                    Histogram.of_durations(_latencies(rng, n, 1.0)),
                    Histogram.of_durations(_latencies(rng, n, 1.0)),
                    0.95,
                    level,
                    seed=int(rng.integers(2**31)),
                ),
                1.0,
            )
        )
        for _ in range(3)
    ),
    lambda rng, n, level: (
        stats.mean_ratio_interval(
            Histogram.of_values(_attempts(rng, n, 3.0)).moments(),
            Histogram.of_values(_attempts(rng, n, 3.0)).moments(),
            level,
        ),
        1.0,
    ),
    *(
        (
            lambda rng, n, level, p=p: (
                stats.proportion_difference_interval(int(rng.binomial(n, p)), n, int(rng.binomial(n, p)), n, level),
                0.0,
            )
        )
        for p in (0.0, 0.02, 0.80, 0.08)
    ),
)


def placebo_family_rate(*, n: int, repetitions: int, seed: int, alpha: float = 0.01) -> float:
    """How often at least one of the eight goals' placebo comparisons fires when both halves of
    BASELINE come from the same distribution, each at the Bonferroni level 1 - alpha / 8."""
    rng = np.random.default_rng(seed)
    level = 1 - alpha / len(_PLACEBO_FAMILY)
    fired = 0
    for _ in range(repetitions):
        for compare in _PLACEBO_FAMILY:
            estimate, null = compare(rng, n, level)
            if estimate.interval is not None and not estimate.interval.contains(null):
                fired += 1
                break
    return fired / repetitions
