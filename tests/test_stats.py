"""The interval methods and design effects, pinned to external references (scipy on raw data, published
tables, statsmodels) and checked for their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from sprintgate import stats
from sprintgate.compiler import Layout
from sprintgate.design import Clustering, design_effect, indicator_design_effect
from sprintgate.looks import look_of, spend


class TestProportions:
    @pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 17), (50, 100), (29, 30), (40, 40)])
    def test_wilson_matches_scipy_binomtest(self, k: int, n: int) -> None:
        """Wilson's bounds equal scipy.stats.binomtest(k, n).proportion_ci(method='wilson')."""
        reference = sps.binomtest(k, n).proportion_ci(0.90, method="wilson")
        low, high = stats.wilson(k, n, 0.05)
        assert low == pytest.approx(reference.low, abs=1e-12)
        assert high == pytest.approx(reference.high, abs=1e-12)

    # Newcombe RG (1998), "Interval estimation for the difference between independent proportions:
    # comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (95 %).
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
    def test_newcombe_matches_the_published_table(
        self, k1: int, n1: int, k2: int, n2: int, low: float, high: float
    ) -> None:
        """The hybrid score interval reproduces Newcombe's Table II to four decimals."""
        found = stats.newcombe(k1 / n1, n1, k2 / n2, n2, 0.025, 0.025)
        assert (round(found[0], 4), round(found[1], 4)) == (low, high)

    # statsmodels 0.14: confint_proportions_2indep(k1, n1, k2, n2, method="score", compare="ratio",
    # alpha=0.10, correction=False), the Koopman score interval, printed to 12 digits.
    @pytest.mark.parametrize(
        ("k1", "n1", "k2", "n2", "low", "high"),
        [
            (36, 40, 16, 80, 3.13675922106, 6.63273807640),
            (5, 56, 1, 29, 0.546472436920, 12.8660341450),
            (10, 1000, 2, 1000, 1.50917720919, 16.5897766819),
            (0, 50, 3, 60, 0.0, 1.05190611434),
            (80, 10000, 10, 10000, 4.64181213616, 13.7905406183),
        ],
    )
    def test_rate_ratio_matches_statsmodels_score_interval(
        self, k1: int, n1: int, k2: int, n2: int, low: float, high: float
    ) -> None:
        """The ratio of two rates by inverting the score test equals statsmodels' Koopman interval."""
        found = stats.rate_ratio(k1 / n1, n1, k2 / n2, n2, 0.05, 0.05)
        assert found[0] == pytest.approx(low, rel=1e-9, abs=1e-12)
        assert found[1] == pytest.approx(high, rel=1e-9)

    def test_rate_ratio_is_unbounded_without_baseline_hits(self) -> None:
        """With no hits in the denominator nothing bounds the ratio from above."""
        assert stats.rate_ratio(5 / 100, 100, 0.0, 100, 0.05, 0.05)[1] == math.inf


class TestQuantiles:
    def test_positions_follow_the_beta_distribution_of_the_level(self) -> None:
        """With one event per value the pmf's cumulative sum at value i is Beta(q(n+1), (1-q)(n+1)) at i/n."""
        n, q = 500, 0.95
        pmf = stats.quantile_pmf(np.ones(n, dtype=np.int64), q, float(n))
        reference = sps.beta(q * (n + 1), (1 - q) * (n + 1)).cdf(np.arange(1, n + 1) / n)
        np.testing.assert_allclose(np.cumsum(pmf), reference, atol=1e-12)

    def test_bounds_cover_the_order_statistics_scipy_would_pick(self) -> None:
        """On 2,000 raw values the 90 % positions sit within a rank of scipy.stats.quantile_test's."""
        values = np.sort(np.random.default_rng(5).lognormal(6, 1, 2000))
        reference = sps.quantile_test(values, q=0, p=0.95).confidence_interval(0.90)
        pmf = stats.quantile_pmf(np.ones(values.size, dtype=np.int64), 0.95, float(values.size))
        low, high = values[stats.lower_position(pmf, 0.05)], values[stats.upper_position(pmf, 0.05)]
        ranks = np.searchsorted(values, [reference.low, reference.high])
        assert abs(int(np.searchsorted(values, low)) - int(ranks[0])) <= 1
        assert abs(int(np.searchsorted(values, high)) - int(ranks[1])) <= 1

    def test_a_difference_pmf_equals_brute_force(self) -> None:
        """The convolution of two positions equals enumerating every pair."""
        rng = np.random.default_rng(1)
        a, b = rng.random(7), rng.random(5)
        a, b = a / a.sum(), b / b.sum()
        pmf, first = stats.difference_pmf(a, 10, b, 3)
        brute: dict[int, float] = {}
        for i, pa in enumerate(a):
            for j, pb in enumerate(b):
                brute[(10 + i) - (3 + j)] = brute.get((10 + i) - (3 + j), 0.0) + pa * pb
        assert {first + k: p for k, p in enumerate(pmf) if p > 0} == pytest.approx(brute)

    @settings(max_examples=60, deadline=None)
    @given(n=st.integers(50, 5000), q=st.sampled_from([0.5, 0.9, 0.95, 0.99]), shrink=st.floats(1.0, 20.0))
    def test_fewer_effective_events_never_narrow_the_interval(self, n: int, q: float, shrink: float) -> None:
        """A design effect above 1 can only widen a quantile's interval."""
        counts = np.ones(n, dtype=np.int64)
        full, less = stats.quantile_pmf(counts, q, float(n)), stats.quantile_pmf(counts, q, n / shrink)
        assert stats.lower_position(less, 0.05) <= stats.lower_position(full, 0.05)
        assert stats.upper_position(less, 0.05) >= stats.upper_position(full, 0.05)


class TestDesignEffects:
    LAYOUT = Layout(slots=14, groups=16, slots_per_day=2)

    def test_independent_events_have_a_design_effect_near_one(self) -> None:
        """Bernoulli events spread at random over cells: deff about 1, never below it."""
        rng = np.random.default_rng(3)
        n = rng.integers(400, 600, size=(14, 17))
        hits = rng.binomial(n, 0.2)
        found = indicator_design_effect(hits, n, self.LAYOUT, Clustering.BOTH)
        assert found is not None
        assert 1.0 <= found.deff < 1.6

    def test_one_way_clustering_matches_statsmodels_cluster_robust_variance(self) -> None:
        """The cluster-robust variance of a mean over groups equals statsmodels' OLS cluster covariance."""
        sm = pytest.importorskip("statsmodels.api")
        rng = np.random.default_rng(4)
        groups = np.repeat(np.arange(17), 200)
        effect = rng.normal(0, 0.15, 17)[groups]
        y = (rng.random(groups.size) < 0.3 + effect).astype(float)
        fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
        cells_n = np.bincount(groups, minlength=17).astype(np.float64)[None, :]
        cells_y = np.bincount(groups, weights=y, minlength=17)[None, :]
        found = indicator_design_effect(
            cells_y, cells_n, Layout(slots=1, groups=16, slots_per_day=1), Clustering.CLUSTER
        )
        assert found is not None
        share = y.mean()
        iid = share * (1 - share) / y.size
        # statsmodels without correction is sum(Z_g^2) / N^2; the gate's CR1 multiplies by G / (G - 1).
        assert found.deff * iid == pytest.approx(fit.cov_params()[0, 0] * 17 / 16, rel=1e-9)

    def test_clustered_events_have_the_textbook_design_effect(self) -> None:
        """Clusters of m events with intra-cluster correlation rho: deff about 1 + (m - 1) rho."""
        rng = np.random.default_rng(6)
        slots, groups, m, rho = 14, 16, 400, 0.05
        base = rng.normal(0, 1, (slots, groups + 1))
        deffs = []
        for _ in range(40):
            cluster_effect = rng.normal(0, math.sqrt(rho), groups + 1)
            latent = cluster_effect[None, :, None] + rng.normal(0, math.sqrt(1 - rho), (slots, groups + 1, m // slots))
            hits = (latent > 1.0).sum(axis=2)
            n = np.full_like(hits, m // slots)
            found = indicator_design_effect(
                hits, n, Layout(slots=slots, groups=groups, slots_per_day=1), Clustering.CLUSTER
            )
            assert found is not None
            deffs.append(found.deff)
        del base
        # The indicator's correlation at a threshold one sd up is smaller than rho's (tetrachoric), so the
        # design effect lies between 1 and 1 + (m - 1) rho.
        assert 1.0 < float(np.median(deffs)) < 1 + (m - 1) * rho

    def test_no_spread_gives_no_design_effect(self) -> None:
        """All hits or no hits: nothing to measure a clustering from."""
        n = np.full((14, 17), 10)
        assert indicator_design_effect(n, n, self.LAYOUT, Clustering.BOTH) is None

    def test_few_clusters_widen_through_students_t(self) -> None:
        """The design effect carries (t_dof / z)^2 for a bound at error alpha."""
        found = design_effect(
            np.array([[1.0, 2.0, 3.0]]),
            np.array([[10.0, 10.0, 10.0]]),
            1.0,
            Layout(slots=1, groups=2, slots_per_day=1),
            Clustering.CLUSTER,
        )
        assert found is not None
        assert found.dof == 2
        assert found.inflation(0.05) == pytest.approx(found.deff * (sps.t(2).ppf(0.95) / sps.norm.ppf(0.95)) ** 2)


class TestLooks:
    def test_the_shares_sum_to_one_over_any_number_of_looks(self) -> None:
        """However many reruns, the PASS side never spends more than its error."""
        assert sum(spend(0.05, k, 0.75) for k in range(1, 200_000)) == pytest.approx(0.05, rel=1e-4)
        assert sum(spend(0.05, k, 0.75) for k in range(1, 10)) < 0.05

    def test_a_rerun_on_new_windows_is_the_next_look_and_the_same_windows_the_same(self) -> None:
        """Looks count distinct window pairs judged for the same flip, in time order."""

        def document(post_end: str, when: str) -> dict[str, object]:
            return {
                "flip": "2026-10-08T00:00:00+00:00",
                "generated_at": when,
                "baseline": {"start": "2026-10-01T00:00:00+00:00", "end": "2026-10-08T00:00:00+00:00"},
                "post": {"start": "2026-10-09T00:00:00+00:00", "end": post_end},
                "goals": [{"id": "g", "verdict": "inconclusive"}],
            }

        first, second = document("2026-10-16T00:00:00+00:00", "1"), document("2026-10-23T00:00:00+00:00", "2")
        assert look_of("g", first, [], alpha=0.05, first=0.75).number == 1
        assert look_of("g", second, [first], alpha=0.05, first=0.75).number == 2
        assert look_of("g", first, [first, second], alpha=0.05, first=0.75).number == 1
        third = document("2026-10-30T00:00:00+00:00", "3")
        look = look_of("g", third, [first, second], alpha=0.05, first=0.75)
        assert (look.number, look.alpha) == (3, spend(0.05, 3, 0.75))
        assert look_of("other", third, [first, second], alpha=0.05, first=0.75).number == 1
