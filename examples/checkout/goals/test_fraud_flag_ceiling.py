"""Guardrail: fraud-flagged payments under 2 %, although saved cards skip the step-up.

The share of `checkout.payment_attempt` events with `fraud_flagged` true in POST is below 2 %. The
rate per `payment_method` (`card`, `wallet`, `bank_transfer`) is reported beside it.
"""

from sprintgate import Gate, Goal, Kind, RateLimit

from goals.checkout import FRAUD_FLAGS

GOAL = Goal(id="fraud_flag_ceiling", kind=Kind.GUARDRAIL, metric=RateLimit(FRAUD_FLAGS, below="2%"))


def test_fraud_flag_ceiling(gate: Gate) -> None:
    gate.check(GOAL)
