"""The fast-checkout rollout: its event types, measures, flag and the rollout document's metric table.

Declared once here and used by the goal modules beside it (one module per goal). The rollout
document: enable FAST_CHECKOUT_V3 (one-page checkout with tokenised cards: no 3-D Secure step-up for
a saved card, card data validated before it reaches the payment provider), confirm the goals in
staging, then in production; roll back by turning FAST_CHECKOUT_V3 off.
"""

from __future__ import annotations

from sprintgate import (
    Category,
    Duration,
    EventIs,
    FieldTrue,
    Mean,
    Mix,
    PerUnit,
    Quantile,
    Rate,
    Row,
    Share,
    Suite,
    UnitQuantile,
)

from goals.demo import CheckoutDemo

FLAG = "FAST_CHECKOUT_V3"
FLAG_FIELD = "features"  # the checkout service writes its feature switches under context.features

STARTED = "checkout.started"
ATTEMPT = "checkout.payment_attempt"
AUTHORIZED = "checkout.payment_authorized"
COMPLETED = "checkout.completed"
OUTCOMES = (COMPLETED, "checkout.abandoned", "checkout.failed")
CHANNEL = Category("channel", ("web", "ios", "android"))
PAYMENT_METHOD = Category("payment_method", ("card", "wallet", "bank_transfer"))

AUTH_LATENCY = Duration(
    "auth_latency", events=(AUTHORIZED,), field="auth_latency_ms", label="payment authorisation latency"
)
ATTEMPTS_PER_ORDER = PerUnit(
    "attempts_per_order", events=(ATTEMPT,), unit="order_id", counts="attempts", label="payment attempts per order"
)
CONVERSION = Rate("conversion", events=OUTCOMES, hit=EventIs(COMPLETED), label="checkout conversion")
PAYMENT_FAILURES = Rate("payment_failure", events=OUTCOMES, hit=EventIs("checkout.failed"), label="checkout failure")
FRAUD_FLAGS = Rate("fraud_flagged", events=(ATTEMPT,), hit=FieldTrue("fraud_flagged"), label="fraud-flagged payment")

SUITE = Suite(
    name="Checkout: fast checkout v3",
    flags=(FLAG,),
    flag_field=FLAG_FIELD,
    rollback="set FAST_CHECKOUT_V3=false for every merchant in the payments flag console (runbook PAY-114)",
    demand=(STARTED,),
    cluster="merchant_id",
    columns={"order_id": "uuid", "merchant_id": "uuid"},
    mixes=(Mix("checkout_channels", events=(STARTED,), category=CHANNEL),),
    report=(
        Row("Auth latency p50", Quantile(AUTH_LATENCY, 0.50)),
        Row("Auth latency p95", Quantile(AUTH_LATENCY, 0.95)),
        Row("Auth latency p99", Quantile(AUTH_LATENCY, 0.99), goal="auth_p99_budget"),
        Row("Avg payment attempts / order", Mean(ATTEMPTS_PER_ORDER), goal="attempts_per_order_reduction"),
        Row("Payment attempts p95", UnitQuantile(ATTEMPTS_PER_ORDER, 0.95)),
        Row("Conversion %", Share(CONVERSION), goal="conversion_rate"),
        Row("Checkout failure %", Share(PAYMENT_FAILURES)),
        Row("Fraud-flagged payments %", Share(FRAUD_FLAGS, by=PAYMENT_METHOD), goal="fraud_flag_ceiling"),
    ),
    demo=CheckoutDemo(flags=(FLAG,), flag_field=FLAG_FIELD),
)
