"""The interval methods, pinned to external references and checked for their invariants."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from sprintgate import stats
from sprintgate.stats import Histogram, Moments


class TestHistogram:
    def test_quantile_matches_exact_within_bucket_width(self) -> None:
        """A quantile read from log buckets is within 0.1 % of the exact order statistic."""
        values = np.random.default_rng(1).lognormal(6, 1.2, 5000)
        histogram = Histogram.of_durations(values)
        for q in (0.5, 0.9, 0.95, 0.99):
            exact = np.sort(values)[math.ceil(q * values.size) - 1]
            assert histogram.quantile(q) == pytest.approx(exact, rel=1e-3)

    def test_zero_durations_fall_in_the_floor_bucket(self) -> None:
        """Zero milliseconds is counted, at the floor value, not dropped."""
        histogram = Histogram.of_durations([0.0, 0.0, 5.0])
        assert histogram.n == 3
        assert histogram.quantile(0.5) == pytest.approx(stats.BUCKET_FLOOR, rel=1e-3)

    def test_moments_equal_numpy_on_raw_values(self) -> None:
        """n, sum and sum of squares give numpy's mean and ddof=1 variance."""
        values = np.random.default_rng(2).integers(1, 12, 400)
        moments = Histogram.of_values(values).moments()
        assert moments.mean == pytest.approx(values.mean())
        assert moments.variance == pytest.approx(values.var(ddof=1))

    def test_rejects_unsorted_values(self) -> None:
        """A histogram with decreasing values is refused, not silently misread."""
        with pytest.raises(ValueError, match="strictly increasing"):
            Histogram(np.array([2.0, 1.0]), np.array([1, 1]))


class TestQuantileInterval:
    @pytest.mark.parametrize(("n", "seed"), [(59, 3), (200, 4), (5000, 5)])
    def test_matches_scipy_quantile_test_on_raw_data(self, n: int, seed: int) -> None:
        """Same order statistics as scipy.stats.quantile_test(...).confidence_interval()."""
        values = np.random.default_rng(seed).integers(1, 10**6, n).astype(float)  # integers: exact buckets not needed
        reference = sps.quantile_test(values, q=0, p=0.95).confidence_interval(0.90)
        estimate = stats.quantile_interval(Histogram.of_values(values), 0.95, 0.90)
        assert estimate.interval is not None
        assert (estimate.interval.low, estimate.interval.high) == (reference.low, reference.high)

    def test_too_few_values_have_no_finite_interval(self) -> None:
        """Below 59 values a 90 % interval for p95 has an infinite end (scipy returns nan)."""
        values = np.arange(1.0, 59.0)
        assert math.isnan(sps.quantile_test(values, q=0, p=0.95).confidence_interval(0.90).high)
        assert stats.quantile_interval(Histogram.of_values(values), 0.95, 0.90).interval is None
        assert stats.minimum_sample_for_quantile(0.95, 0.90) == 59


class TestProportions:
    @pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 17), (50, 100), (29, 30), (40, 40)])
    def test_wilson_matches_scipy_binomtest(self, k: int, n: int) -> None:
        """Wilson's interval equals scipy.stats.binomtest(k, n).proportion_ci(method='wilson')."""
        reference = sps.binomtest(k, n).proportion_ci(0.90, method="wilson")
        interval = stats.wilson_interval(k, n, 0.90).interval
        assert interval is not None
        assert interval.low == pytest.approx(reference.low, abs=1e-12)
        assert interval.high == pytest.approx(reference.high, abs=1e-12)

    # Newcombe RG (1998), "Interval estimation for the difference between independent proportions:
    # comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (95 %).
    # The same numbers come from statsmodels' confint_proportions_2indep(method="newcomb").
    @pytest.mark.parametrize(
        ("k1", "n1", "k2", "n2", "low", "high"),
        [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (6, 7, 2, 7, 0.0582, 0.8062),
            (5, 56, 0, 29, -0.0381, 0.1926),
            (0, 10, 0, 20, -0.1611, 0.2775),
            (0, 10, 0, 10, -0.2775, 0.2775),
            (10, 10, 0, 20, 0.6791, 1.0000),
            (10, 10, 0, 10, 0.6075, 1.0000),
        ],
    )
    def test_newcombe_matches_published_table(
        self, k1: int, n1: int, k2: int, n2: int, low: float, high: float
    ) -> None:
        """The hybrid score interval reproduces Newcombe's Table II to four decimals."""
        interval = stats.proportion_difference_interval(k1, n1, k2, n2, 0.95).interval
        assert interval is not None
        assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)

    def test_no_events_means_no_estimate(self) -> None:
        """An empty window yields no statistic rather than a division by zero."""
        assert stats.proportion_difference_interval(0, 0, 3, 10, 0.9).statistic is None
        assert stats.wilson_interval(0, 0, 0.9).statistic is None


class TestMeanRatio:
    def test_agrees_with_scipy_bootstrap_on_raw_data(self) -> None:
        """On a large sample the delta-method interval matches scipy.stats.bootstrap (BCa) of the ratio of means."""
        rng = np.random.default_rng(7)
        post = 1 + rng.negative_binomial(2, 2 / 2.5, 3000)
        base = 1 + rng.negative_binomial(2, 2 / 4.0, 3000)
        reference = sps.bootstrap(
            (post, base),
            lambda a, b, axis=-1: a.mean(axis=axis) / b.mean(axis=axis),
            confidence_level=0.90,
            n_resamples=2000,
            random_state=np.random.default_rng(8),
            vectorized=True,
        ).confidence_interval
        interval = stats.mean_ratio_interval(
            Histogram.of_values(post).moments(), Histogram.of_values(base).moments(), 0.90
        ).interval
        assert interval is not None
        assert interval.low == pytest.approx(reference.low, rel=0.01)
        assert interval.high == pytest.approx(reference.high, rel=0.01)

    def test_single_booking_has_no_interval(self) -> None:
        """One booking per window gives a ratio but no variance, so no interval."""
        one = Moments(n=1, total=3.0, total_squares=9.0)
        estimate = stats.mean_ratio_interval(one, one, 0.9)
        assert estimate.statistic == 1.0
        assert estimate.interval is None


class TestQuantileRatio:
    def test_deterministic_for_a_seed(self) -> None:
        """The same histograms and seed give the same interval."""
        rng = np.random.default_rng(9)
        a, b = Histogram.of_durations(rng.lognormal(5, 1, 800)), Histogram.of_durations(rng.lognormal(5.2, 1, 900))
        assert stats.quantile_ratio_interval(a, b, 0.95, 0.9) == stats.quantile_ratio_interval(a, b, 0.95, 0.9)

    def test_agrees_with_scipy_bootstrap_on_raw_data(self) -> None:
        """The resampling-free rank bootstrap matches scipy.stats.bootstrap (percentile) on raw events."""
        rng = np.random.default_rng(10)
        post, base = rng.lognormal(5, 0.8, 2000), rng.lognormal(5.5, 0.8, 2000)
        reference = sps.bootstrap(
            (post, base),
            lambda a, b, axis=-1: (
                np.quantile(a, 0.95, axis=axis, method="inverted_cdf")
                / np.quantile(b, 0.95, axis=axis, method="inverted_cdf")
            ),
            confidence_level=0.90,
            n_resamples=4000,
            method="percentile",
            random_state=np.random.default_rng(11),
            vectorized=True,
        ).confidence_interval
        interval = stats.quantile_ratio_interval(
            Histogram.of_durations(post), Histogram.of_durations(base), 0.95, 0.90
        ).interval
        assert interval is not None
        assert interval.low == pytest.approx(reference.low, rel=0.015)
        assert interval.high == pytest.approx(reference.high, rel=0.015)


durations = st.lists(st.floats(min_value=0.0, max_value=1e7, allow_nan=False), min_size=1, max_size=300)
levels = st.floats(min_value=0.5, max_value=0.995)


class TestInvariants:
    @given(durations, durations, levels)
    @settings(max_examples=60, deadline=None)
    def test_interval_contains_the_estimate(self, post: list[float], base: list[float], level: float) -> None:
        """Every interval contains its own point estimate."""
        hp, hb = Histogram.of_durations(post), Histogram.of_durations(base)
        for estimate in (
            stats.quantile_ratio_interval(hp, hb, 0.95, level, draws=500),
            stats.quantile_interval(hp, 0.95, level),
        ):
            if estimate.interval is not None and estimate.statistic is not None:
                assert estimate.interval.low <= estimate.statistic * (1 + 1e-12)
                assert estimate.statistic <= estimate.interval.high * (1 + 1e-12)

    @given(st.integers(0, 200), st.integers(1, 200), st.integers(0, 200), st.integers(1, 200), levels, levels)
    def test_higher_confidence_never_narrows(self, k1: int, n1: int, k2: int, n2: int, a: float, b: float) -> None:
        """Raising the confidence level never shrinks a proportion or difference interval."""
        k1, k2 = min(k1, n1), min(k2, n2)
        low, high = sorted((a, b))
        methods: list[Callable[[float], stats.Estimate]] = [
            lambda lv: stats.wilson_interval(k1, n1, lv),
            lambda lv: stats.proportion_difference_interval(k1, n1, k2, n2, lv),
        ]
        for method in methods:
            narrow, wide = method(low).interval, method(high).interval
            assert narrow is not None
            assert wide is not None
            assert wide.low <= narrow.low + 1e-12
            assert narrow.high <= wide.high + 1e-12

    @given(durations, durations, levels, levels)
    @settings(max_examples=40, deadline=None)
    def test_higher_confidence_never_narrows_a_quantile_interval(
        self, post: list[float], base: list[float], a: float, b: float
    ) -> None:
        """Raising the confidence level never shrinks a quantile or quantile-ratio interval."""
        low, high = sorted((a, b))
        hp, hb = Histogram.of_durations(post), Histogram.of_durations(base)
        methods: list[Callable[[float], stats.Estimate]] = [
            lambda lv: stats.quantile_interval(hp, 0.95, lv),
            lambda lv: stats.quantile_ratio_interval(hp, hb, 0.95, lv, draws=500),
        ]
        for method in methods:
            narrow, wide = method(low).interval, method(high).interval
            if narrow is None:
                assert wide is None  # too small a sample for the lower level is too small for the higher
                continue
            if wide is None:
                continue
            assert wide.low <= narrow.low * (1 + 1e-12)
            assert narrow.high <= wide.high * (1 + 1e-12)

    @given(durations, st.randoms(use_true_random=False))
    def test_event_order_changes_nothing(self, values: list[float], random: object) -> None:
        """Shuffling the events gives the same histogram, so the same verdict."""
        shuffled = list(values)
        random.shuffle(shuffled)  # type: ignore[attr-defined]
        a, b = Histogram.of_durations(values), Histogram.of_durations(shuffled)
        assert np.array_equal(a.values, b.values)
        assert np.array_equal(a.counts, b.counts)

    @given(
        st.lists(st.floats(min_value=0.01, max_value=1e7, allow_nan=False), min_size=1, max_size=400),
        st.floats(0.01, 0.99),
    )
    def test_histogram_quantile_within_bucket_width(self, values: list[float], q: float) -> None:
        """A histogram quantile is within the 0.1 % bucket width of the exact one."""
        exact = np.sort(values)[max(1, math.ceil(q * len(values))) - 1]
        assert Histogram.of_durations(values).quantile(q) == pytest.approx(exact, rel=1.001e-3)
