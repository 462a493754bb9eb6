"""Payment authorisation p99 within 800 ms.

At least 99 % of `checkout.payment_authorized` events in POST take strictly less than 800 ms
(`auth_latency_ms`): with a saved card tokenised, the 3-D Secure step-up no longer sits in the
authorisation path.
"""

from sprintgate import Gate, Goal, QuantileBudget

from goals.checkout import AUTH_LATENCY

GOAL = Goal(id="auth_p99_budget", metric=QuantileBudget(AUTH_LATENCY, q=0.99, below=800))


def test_auth_p99_budget(gate: Gate) -> None:
    gate.check(GOAL)
