"""Precondition: FAST_CHECKOUT_V3 really is on in POST and off in BASELINE.

At least 99 % (`flag_share`) of POST events carry `features.FAST_CHECKOUT_V3` true, and BASELINE
events that carry it have it off. Otherwise the run compares "flag off vs flag still off": it fails,
and no goal can pass.
"""

from sprintgate import FLAGS_ENABLED, Gate

PRECONDITION = FLAGS_ENABLED


def test_flags_enabled(gate: Gate) -> None:
    gate.check(PRECONDITION)
