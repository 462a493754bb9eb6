"""Precondition: each window spans at least 7 days (`min_window_days`), both have the same length,
and their events cover at least 90 % (`min_coverage`) of each window.

A shorter window makes every goal INCONCLUSIVE ("wait for more data"), never silently PASS.
"""

from sprintgate import WINDOW_SUFFICIENT, Gate


def test_window_sufficient(gate: Gate) -> None:
    gate.check_precondition(WINDOW_SUFFICIENT)
