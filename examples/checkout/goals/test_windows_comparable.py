"""Precondition: BASELINE and POST see comparable demand.

Started checkouts (`checkout.started`) per day differ by at most a factor 1.5; their hour-of-day and
weekday mix, the merchant mix and the channel mix (`web`, `ios`, `android`) by at most the bounds,
beyond what sampling alone moves. A sales campaign in one window makes goals that would pass
INCONCLUSIVE.
"""

from sprintgate import WINDOWS_COMPARABLE, Gate

PRECONDITION = WINDOWS_COMPARABLE


def test_windows_comparable(gate: Gate) -> None:
    gate.check(PRECONDITION)
