"""Precondition: BASELINE and POST see comparable demand.

Demand events (background job and inline outcomes) per day differ by at most a factor 1.5; their
hour-of-day and weekday mix, the restaurant mix and the reasonCode mix of attempts by at most the
bounds, beyond what sampling alone moves. Otherwise goals that would pass are INCONCLUSIVE.
"""

from sprintgate import WINDOWS_COMPARABLE, Gate

PRECONDITION = WINDOWS_COMPARABLE


def test_windows_comparable(gate: Gate) -> None:
    gate.check(PRECONDITION)
