"""Precondition: each window spans at least 7 days (`min_window_days` in pyproject.toml), both have
the same length, their events cover at least 90 % (`min_coverage`) of each, and POST is closed and
complete by the database clock. A shorter window makes every goal INCONCLUSIVE ("wait for more data").
"""

from sprintgate import WINDOW_SUFFICIENT, Gate

PRECONDITION = WINDOW_SUFFICIENT


def test_window_sufficient(gate: Gate) -> None:
    gate.check(PRECONDITION)
