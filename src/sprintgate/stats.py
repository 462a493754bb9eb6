"""Interval arithmetic on aggregates (histograms, counts, sums), never raw events.

Every bound is one-sided at its own error rate ``alpha``, so a goal can spend different errors on
its PASS side and its FAIL side. Sample sizes are *effective* sizes: the number of events divided by
the design effect of their clustering (:mod:`sprintgate.design`); with a design effect of 1 each
method is the textbook one it is pinned to in the tests (Wilson, Newcombe, the order-statistic ranks
of ``scipy.stats.quantile_test``, the Koopman score interval of a ratio of rates).
"""

from __future__ import annotations

import importlib
import math
from functools import cache
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


@cache
def _special() -> ModuleType:
    """scipy.special, imported when first needed: about 0.3 s and 25 MB that the header of a run
    should not wait for (the run imports it in the background while its queries run)."""
    return importlib.import_module("scipy.special")


def z(alpha: float) -> float:
    """The standard normal quantile with ``alpha`` above it (``z(0.05) = 1.645``)."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"a one-sided error rate lies in (0, 0.5), got {alpha}")
    return float(-_special().ndtri(alpha))


def t(alpha: float, dof: float) -> float:
    """Student's t quantile with ``alpha`` above it at ``dof`` degrees of freedom (normal when infinite)."""
    if not math.isfinite(dof):
        return z(alpha)
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    return float(_special().stdtrit(dof, 1 - alpha))


# --- proportions ----------------------------------------------------------------------------------


def wilson(hits: float, n: float, alpha: float) -> tuple[float, float]:
    """Wilson's score bounds for ``hits / n``, each end at one-sided error ``alpha``.

    ``n`` may be an effective (fractional) sample size; ``hits`` is then ``rate * n``. Exact 0 and 1
    at ``hits = 0`` and ``hits = n``.
    """
    if n <= 0:
        raise ValueError("Wilson's interval needs n > 0")
    p = min(1.0, max(0.0, hits / n))
    q = z(alpha)
    denominator = 1 + q * q / n
    center = (p + q * q / (2 * n)) / denominator
    half = q * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / denominator
    return (0.0 if p == 0 else max(0.0, center - half)), (1.0 if p == 1 else min(1.0, center + half))


def newcombe(p1: float, n1: float, p2: float, n2: float, alpha_low: float, alpha_high: float) -> tuple[float, float]:
    """Bounds for ``p1 - p2`` by Newcombe's hybrid score method (method 10 of Newcombe, 1998), the
    lower end at one-sided error ``alpha_low`` and the upper end at ``alpha_high``."""
    l1, _ = wilson(p1 * n1, n1, alpha_low)
    _, u2 = wilson(p2 * n2, n2, alpha_low)
    _, u1 = wilson(p1 * n1, n1, alpha_high)
    l2, _ = wilson(p2 * n2, n2, alpha_high)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, low), min(1.0, high)


def _score_statistic(theta: float, p1: float, n1: float, p2: float, n2: float) -> float:
    """The Koopman / Farrington-Manning score statistic for H0: p1 = theta * p2 (signed)."""
    # Restricted maximum likelihood of p2 under H0 (Farrington & Manning 1990, eq. 9, ratio case).
    a = (n1 + n2) * theta
    b = -(n1 * theta + p1 * n1 + n2 + p2 * n2 * theta)
    c = p1 * n1 + p2 * n2
    disc = max(0.0, b * b - 4 * a * c)
    p2r = (-b - math.sqrt(disc)) / (2 * a)
    p2r = min(max(p2r, 0.0), 1.0)
    p1r = min(max(theta * p2r, 0.0), 1.0)
    variance = p1r * (1 - p1r) / n1 + theta * theta * p2r * (1 - p2r) / n2
    difference = p1 - theta * p2
    if variance <= 0:
        return math.copysign(math.inf, difference) if difference else 0.0
    return difference / math.sqrt(variance)


def rate_ratio(p1: float, n1: float, p2: float, n2: float, alpha_low: float, alpha_high: float) -> tuple[float, float]:
    """Bounds for ``p1 / p2`` by inverting the score test (Koopman 1984; Farrington & Manning 1990),
    each end at its own one-sided error. ``inf`` when ``p2`` is 0 and nothing bounds the ratio."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("a ratio of rates needs two non-empty samples")

    def solve(target: float, upward: bool) -> float:
        # The score statistic falls as theta grows; search log(theta) by bisection.
        low, high = -30.0, 30.0
        if upward and _score_statistic(math.exp(high), p1, n1, p2, n2) > target:
            return math.inf
        if not upward and _score_statistic(math.exp(low), p1, n1, p2, n2) < target:
            return 0.0
        for _ in range(200):
            middle = (low + high) / 2
            if _score_statistic(math.exp(middle), p1, n1, p2, n2) > target:
                low = middle
            else:
                high = middle
        return math.exp((low + high) / 2)

    lower = 0.0 if p1 == 0 else solve(z(alpha_low), upward=False)
    upper = solve(-z(alpha_high), upward=True)
    return lower, upper


# --- quantiles ------------------------------------------------------------------------------------


def quantile_pmf(counts: NDArray[np.int64], q: float, n_effective: float) -> Float:
    """Where the ``q`` quantile lies, as probabilities over the positions of a histogram.

    The quantile's level in the population is spread as Beta(q (m + 1), (1 - q) (m + 1)) with ``m`` the
    effective sample size: the distribution of the order statistic of a resample, with ranks from
    Bin(m + 1, q) so that unequal windows are not biased toward either side (the resampling-free
    quantile bootstrap). The level is read through the histogram's own cumulative shares, so the
    probabilities sit on observed values only, ties included.
    """
    n = counts.sum()
    if n <= 0:
        raise ValueError("the quantile of an empty histogram is undefined")
    shares = np.concatenate(([0.0], np.cumsum(counts) / n))
    shares[-1] = 1.0
    a, b = q * (n_effective + 1), (1 - q) * (n_effective + 1)
    cdf = _special().betainc(a, b, shares)
    return np.asarray(np.diff(cdf), dtype=np.float64)


def lower_position(pmf: Float, alpha: float) -> int:
    """The position at or above which the quantile lies with probability ``1 - alpha``."""
    cumulative = np.cumsum(pmf)
    return int(np.searchsorted(cumulative, alpha, side="right"))


def upper_position(pmf: Float, alpha: float) -> int:
    """The position at or below which the quantile lies with probability ``1 - alpha``."""
    cumulative = np.cumsum(pmf)
    return min(pmf.size - 1, int(np.searchsorted(cumulative, 1 - alpha, side="left")))


def difference_pmf(post: Float, post_first: int, base: Float, base_first: int) -> tuple[Float, int]:
    """The distribution of ``index(post) - index(base)`` for independent positions on a common index
    grid (log buckets: the index difference is the log ratio in bucket widths), and the index
    difference of its first element."""
    pmf = np.convolve(post, base[::-1])
    first = post_first - (base_first + base.size - 1)
    return np.asarray(pmf / pmf.sum(), dtype=np.float64), first


def shift_pmf(pmf: Float, first: int, mean: float, sd: float) -> tuple[Float, int]:
    """``pmf`` (on a grid of unit steps starting at ``first``) plus an independent normal error of
    ``mean`` and ``sd`` steps, discretised to the same grid."""
    if sd <= 0:
        offset = round(mean)
        return pmf, first + offset
    reach = math.ceil(abs(mean) + 8 * sd) + 1
    steps = np.arange(-reach, reach + 1, dtype=np.float64)
    edges = _special().ndtr((np.concatenate((steps - 0.5, [steps[-1] + 0.5])) - mean) / sd)
    kernel = np.diff(edges)
    out = np.convolve(pmf, kernel)
    return np.asarray(out / out.sum(), dtype=np.float64), first - reach


def variance_of_pmf(pmf: Float) -> float:
    positions = np.arange(pmf.size, dtype=np.float64)
    mean = float(np.dot(pmf, positions))
    return float(np.dot(pmf, (positions - mean) ** 2))


# --- means ----------------------------------------------------------------------------------------


def log_ratio_bounds(
    log_ratio: float, variance: float, dof: float, alpha_low: float, alpha_high: float
) -> tuple[float, float]:
    """``exp(log_ratio -/+ t * sd)`` with Student's t at ``dof``, each end at its own error."""
    sd = math.sqrt(variance)
    return math.exp(log_ratio - t(alpha_low, dof) * sd), math.exp(log_ratio + t(alpha_high, dof) * sd)


def welch_dof(parts: tuple[float, float], dofs: tuple[float, float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of two variances with their own dof."""
    total = sum(parts)
    denominator = sum(v * v / d for v, d in zip(parts, dofs, strict=True) if v > 0)
    return math.inf if denominator == 0 else total * total / denominator
