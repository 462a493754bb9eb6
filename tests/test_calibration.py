"""Fast simulation: at the margin the gate says PASS at most 5 % of the time, and with a clear effect
at n = 2,000 per window at least 80 % of the time. bench/calibration.py runs the long version."""

from __future__ import annotations

import pytest
from scipy import stats as sps

from sprintgate.calibration import CASES, Case, pass_rate, placebo_family_rate

REPETITIONS = 300
N = 2000


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
class TestCalibration:
    def test_false_pass_rate_at_the_margin(self, case: Case) -> None:
        """With the truth exactly at the target, PASS is at most nominal (5 %) up to simulation noise."""
        rate = pass_rate(case, case.margin_truth, n=N, repetitions=REPETITIONS, seed=1)
        # One-sided 99.9 % upper limit of the pass count of an exactly nominal method.
        assert rate <= sps.binom.ppf(0.999, REPETITIONS, 0.05) / REPETITIONS

    def test_power_with_a_clear_effect(self, case: Case) -> None:
        """With a clear effect and 2,000 events per window, PASS at least 80 % of the time."""
        rate = pass_rate(case, case.clear_truth, n=N, repetitions=REPETITIONS // 3, seed=2)
        assert rate >= 0.80


def test_placebo_rarely_fires_on_well_behaved_data() -> None:
    """With both halves of BASELINE from one distribution, any of the eight placebo checks fires in at
    most about 1 % of runs (family-wise), so the gate does not randomly withhold PASS."""
    repetitions = 200
    rate = placebo_family_rate(n=N, repetitions=repetitions, seed=3)
    assert rate <= sps.binom.ppf(0.999, repetitions, 0.01) / repetitions
