"""Precondition: every row of the windows is used or counted under a reason.

No id repeats (without a unique index on id the gate counts duplicates), and rows without an event
type stay rare. Event types written differently from the declared ones are excluded and listed.
"""

from sprintgate import TELEMETRY_UNDERSTOOD, Gate

PRECONDITION = TELEMETRY_UNDERSTOOD


def test_telemetry_understood(gate: Gate) -> None:
    gate.check(PRECONDITION)
