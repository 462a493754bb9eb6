"""Precondition: every event type a goal needs is present in the windows it needs.

A goal whose events are missing is INCONCLUSIVE with the reason "instrumentation missing: no
<event type> events in the <window> window"; this check fails until the instrumentation is fixed.
"""

from sprintgate import TELEMETRY_PRESENT, Gate

PRECONDITION = TELEMETRY_PRESENT


def test_telemetry_present(gate: Gate) -> None:
    gate.check(PRECONDITION)
