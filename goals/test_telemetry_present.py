"""Precondition: every event type a goal needs is present in both windows.

A goal whose events are missing is INCONCLUSIVE with the reason "instrumentation missing: no
<event type> events in the <window> window"; this check fails until the instrumentation is fixed.
"""

from sprintgate import TELEMETRY_PRESENT, Gate


def test_telemetry_present(gate: Gate) -> None:
    gate.check_precondition(TELEMETRY_PRESENT)
