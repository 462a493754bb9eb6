"""Precondition: the flags really are on in POST and off in BASELINE.

At least 99 % (`flag_share`) of POST events carry both `FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2` and
`PLANNER_CACHE_ENABLED` true, and BASELINE events that carry flags have them off. Otherwise the run
compares "flag off vs flag still off": it fails, and no goal can pass.
"""

from sprintgate import FLAGS_ENABLED, Gate

PRECONDITION = FLAGS_ENABLED


def test_flags_enabled(gate: Gate) -> None:
    gate.check(PRECONDITION)
