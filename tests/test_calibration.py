"""The gate's promise, measured: when the truth sits at the target, PASS at most 6 % of the time.

A reduced calibration matrix (``sprintgate.simulation.CI_CELLS``; the full matrix is
``bench/calibration.py``, whose ``--quick`` runs these same cells): per goal kind a few cells of
seeded synthetic evidence, among them clustered, tied, capped, 10:1, drifting and rerun ones, each
judged by :func:`sprintgate.verdicts.judge` as a run judges it. A cell fails when its false PASS
rate exceeds 6 % by more than three Monte Carlo standard errors (taken at 6 %); the seeds are fixed,
so a failure is a change in the engine, not bad luck.
"""

from __future__ import annotations

import numpy as np
import pytest

from sprintgate import simulation as sim
from sprintgate.compiler import budget_key
from sprintgate.verdict import Verdict

#: Trials per cell: at 600, three standard errors are 2.9 points, so a regression to 10 % or more
#: false PASS fails while the whole module stays within about two minutes on one core.
REPETITIONS = 600


def _assert_calibrated(cell: sim.Cell) -> None:
    found = sim.tally(cell, cell.margin, REPETITIONS, 0)
    bound = sim.false_pass_bound(REPETITIONS)
    assert found.rate <= bound, (
        f"{cell.label}: {found.passes} false PASS in {REPETITIONS} trials ({found.rate:.1%} > {bound:.1%}); verdicts: {dict(found.reasons)}"
    )


class TestQuantileRatio:
    """p95 ratio <= 0.70 with the truth exactly at 0.70."""

    def test_clustered_restaurants(self) -> None:
        """Restaurant effects at ICC 5 % over 200 restaurants in 16 hashed groups keep the level."""
        _assert_calibrated(sim.CI_RATIO_CLUSTERED)

    def test_ties_on_a_grid(self) -> None:
        """Durations on a 100 ms grid with the p95s exactly on grid values (700 / 1000) keep the level."""
        _assert_calibrated(sim.CI_RATIO_GRID)

    def test_unequal_windows(self) -> None:
        """A BASELINE of 3,000 events against a POST of 300 keeps the level."""
        _assert_calibrated(sim.CI_RATIO_UNEQUAL)

    def test_drift(self) -> None:
        """A flag effect of exactly 0.70 on top of latency falling 5 % a week does not PASS."""
        _assert_calibrated(sim.CI_RATIO_DRIFT)

    def test_weekly_reruns(self) -> None:
        """Four weekly looks with a new POST each, spending error, keep the level over all looks."""
        _assert_calibrated(sim.CI_RATIO_WEEKLY)


class TestQuantileBudget:
    """p95 under 2000 ms with 5 % of runs timing out and recorded at exactly 2000.0 ms."""

    def test_timeouts_at_the_budget(self) -> None:
        """Timeouts recorded at the budget count against it: the share strictly under it is the truth."""
        _assert_calibrated(sim.CI_BUDGET_TIMEOUTS)


class TestMeanRatio:
    """Mean rows per unit <= 0.50 of BASELINE's with the truth exactly at 0.50."""

    def test_retry_storms(self) -> None:
        """1 % retry-storm units (50+ rows) in POST do not make 1,000 units look better than they are."""
        _assert_calibrated(sim.CI_MEAN_STORMS)


class TestRates:
    """A ceiling and two guardrail changes with the truth exactly at the limit."""

    def test_clustered_ceiling(self) -> None:
        """Hits clustered by restaurant (ICC 0.05, 500 restaurants) keep a 30 % ceiling's level."""
        _assert_calibrated(sim.CI_CEILING_CLUSTERED)

    def test_bursty_points(self) -> None:
        """Timeouts in bursts of whole hours keep a +5 points guardrail's level."""
        _assert_calibrated(sim.CI_POINTS_BURSTY)

    def test_rare_ratio(self) -> None:
        """A rare rate (1 % -> 1.5 %) keeps a x1.5 guardrail's level."""
        _assert_calibrated(sim.CI_RATIO_RARE)


class TestSimulation:
    """The generator's truths, which every calibration number rests on."""

    def test_budget_share_is_exact(self) -> None:
        """Over restaurants, weeks and incidents the share strictly under the budget averages 95 %."""
        scenario = sim.durations_budget(
            2000.0,
            n=(50_000, 50_000),
            population=sim.Population(tenants=2000, icc=0.05, weekly_icc=0.02, incident_hours=4),
        )
        key = budget_key(sim.DURATION.name, 2000.0)
        shares = []
        for seed in range(60):
            post = sim.draw_evidence(scenario, np.random.default_rng(seed)).post
            shares.append(post.budgets[key].sum() / post.durations[sim.DURATION.name].n)
        assert np.mean(shares) == pytest.approx(0.95, abs=4 * np.std(shares) / np.sqrt(len(shares)))

    def test_timeouts_sit_at_the_cap(self) -> None:
        """Timeouts are in the cap's bucket and never counted under a budget equal to the cap."""
        scenario = sim.durations_budget(2000.0, n=(20_000, 20_000), timeouts=0.10)
        post = sim.draw_evidence(scenario, np.random.default_rng(1)).post
        histogram = post.durations[sim.DURATION.name].histogram()
        under = int(post.budgets[budget_key(sim.DURATION.name, 2000.0)].sum())
        assert histogram.values[-1] < 2000.0 * 1.01
        assert under / histogram.n == pytest.approx(0.90, abs=0.01)

    def test_mean_ratio_is_exact(self) -> None:
        """The solved POST makes the ratio of means exactly the target, storms included."""
        assert sim.true_mean_ratio(sim.units_ratio(0.5, storms=0.01)) == pytest.approx(0.5, rel=1e-12)

    def test_seeded(self) -> None:
        """The same seed gives the same evidence and the same verdict."""
        cell = sim.CI_RATIO_UNEQUAL
        first = [cell.run(cell.margin, np.random.default_rng([3, i])) for i in range(3)]
        second = [cell.run(cell.margin, np.random.default_rng([3, i])) for i in range(3)]
        assert first == second

    def test_clear_effect_passes(self) -> None:
        """At a clear effect on plenty of data the gate PASSes: the simulation can tell the two apart."""
        cell = sim.CI_CEILING_CLUSTERED
        assert cell.clear is not None
        found = sim.tally(cell, cell.clear, 20, 1)
        assert found.passes >= 15, dict(found.reasons)
        assert found.reasons.get(Verdict.PASS.value, 0) == found.passes
