"""Precondition: the flags really are on in POST and off in BASELINE.

At least 99 % (`flag_share`) of the POST events that carry `flags` have both
`FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2` and `PLANNER_CACHE_ENABLED` true, and BASELINE events carry
them off. Otherwise the run compares "flag off vs flag still off": it fails, and no goal can pass.
"""

from sprintgate import FLAGS_ENABLED, Gate


def test_flags_enabled(gate: Gate) -> None:
    gate.check_precondition(FLAGS_ENABLED)
