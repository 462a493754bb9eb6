"""Seeded synthetic telemetry of the checkout service for the scenarios in ``scenarios.toml``.

The demo environment (``pytest goals/ --scenario NAME``) loads one scenario into a throwaway
PostgreSQL. The same scenario, scale and seed always give the same rows. Shapes are realistic enough
to exercise the statistics: lognormal authorisation latencies with a slow tail (issuer timeouts and
step-up challenges), overdispersed payment attempts per order (declines and retries), an evening peak
in the daily cycle, merchants that differ (uneven volume, and their own conversion, latency and retry
factors) and days that differ in volume.

Each checkout session writes ``checkout.started``; a session that reaches payment writes one
``checkout.payment_attempt`` per try and, when a try is authorised, ``checkout.payment_authorized``;
every session ends with ``checkout.completed``, ``checkout.abandoned`` or ``checkout.failed``. Every
row carries the order id (one order per session) and the merchant id.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sprintgate import Window

CATALOGUE = Path(__file__).resolve().parent / "scenarios.toml"
CHANNELS = ("web", "ios", "android")
CHANNEL_SHARES = (0.55, 0.30, 0.15)
METHODS = ("card", "wallet", "bank_transfer")
METHOD_SHARES = (0.62, 0.30, 0.08)
OTHER_FEATURES = {"SAVED_ADDRESSES": True}  # a flag already rolled out everywhere, as real contexts carry several

#: Relative demand per hour of day (UTC): a lunch bump and an evening peak.
_HOURLY = np.array([2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 8, 9, 8, 7, 7, 8, 10, 12, 14, 14, 12, 8, 4], dtype=float)
_HOURLY /= _HOURLY.sum()


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    """How shoppers and the checkout behave in one window; see ``[defaults]`` in ``scenarios.toml``."""

    checkouts_per_day: float
    merchants: int
    merchant_spread: float
    day_spread: float
    completed_rate: float
    failed_rate: float
    abandon_before_payment: float
    attempts_mean: float
    attempts_dispersion: float
    auth_median_ms: float
    auth_sigma: float
    auth_tail_share: float
    auth_tail_factor: float
    fraud_rate: float
    flags: str


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named scenario: its behaviour before and after the flip, and its windows."""

    name: str
    description: str
    baseline: Behaviour
    post: Behaviour
    baseline_window: Window
    warmup: timedelta
    post_window: Window
    trailing: timedelta

    @property
    def flip(self) -> datetime:
        return self.baseline_window.end


def _catalogue() -> dict[str, Any]:
    with CATALOGUE.open("rb") as handle:
        return tomllib.load(handle)


def scenario_names() -> list[str]:
    return [k for k in _catalogue() if k not in ("timeline", "defaults")]


def load_scenario(name: str) -> Scenario:
    """The scenario ``name`` from ``scenarios.toml``."""
    catalogue = _catalogue()
    names = [k for k in catalogue if k not in ("timeline", "defaults")]
    if name not in names:
        raise KeyError(f"scenario {name!r} is not defined in {CATALOGUE.name}; known: {', '.join(names)}")
    known = {f.name for f in fields(Behaviour)}
    unknown = set(catalogue["defaults"]) - known
    if unknown:
        raise KeyError(f"[defaults] in {CATALOGUE.name} sets unknown parameters {sorted(unknown)}")
    defaults = Behaviour(**catalogue["defaults"])
    entry = catalogue[name]

    def behaviour(overrides: Mapping[str, Any]) -> Behaviour:
        unknown = set(overrides) - known
        if unknown:
            raise KeyError(f"scenario {name!r} sets unknown parameters {sorted(unknown)}")
        return replace(defaults, **overrides)

    timeline = catalogue["timeline"]
    start: datetime = timeline["start"]
    flip = start + timedelta(days=timeline["baseline_days"])
    warmup = timedelta(hours=timeline["warmup_hours"])
    return Scenario(
        name=name,
        description=entry["description"],
        baseline=behaviour(entry.get("baseline", {})),
        post=behaviour(entry.get("post", {})),
        baseline_window=Window(start, flip),
        warmup=warmup,
        post_window=Window(flip + warmup, flip + warmup + timedelta(days=timeline["post_days"])),
        trailing=timedelta(hours=timeline["trailing_hours"]),
    )


class _Ids:
    """Deterministic, distinct UUIDs: a kind in the second group, a counter in the last."""

    def __init__(self, seed: int) -> None:
        self._prefix = f"{seed & 0xFFFF_FFFF:08x}"
        self._events = 0
        self._orders = 0

    def event(self) -> str:
        self._events += 1
        return f"{self._prefix}-0001-4000-8000-{self._events:012x}"

    def order(self) -> str:
        self._orders += 1
        return f"{self._prefix}-0002-4000-8000-{self._orders:012x}"

    def merchant(self, index: int) -> str:
        return f"{self._prefix}-0003-4000-8000-{index:012x}"


@dataclass(frozen=True, slots=True)
class _Merchants:
    """The merchants of a run: ids, volume weights, and conversion, latency and retry effects."""

    ids: list[str]
    weight: np.ndarray
    conversion: np.ndarray  # shift of the log-odds of completing
    latency: np.ndarray  # factor on authorisation latency (their payment provider's region)
    retries: np.ndarray  # factor on extra payment attempts (their customers' card mix)


class _Span:
    """Draws the checkout sessions of one span of time with one behaviour."""

    def __init__(
        self,
        behaviour: Behaviour,
        flags: tuple[str, ...],
        flag_field: str,
        start: datetime,
        days: float,
        scale: float,
        rng: np.random.Generator,
        merchants: _Merchants,
    ):
        self.b, self.flag_names, self.flag_field = behaviour, flags, flag_field
        self.start, self.days, self.scale, self.rng, self.m = start, days, scale, rng, merchants
        if behaviour.flags not in ("on", "off", "absent", "off_or_absent"):
            raise ValueError(f"scenario flags must be on, off, absent or off_or_absent, got {behaviour.flags!r}")
        # The features object of a row in each flag state; rows share these (they are only serialised).
        self.features = {
            "on": {**OTHER_FEATURES, **dict.fromkeys(flags, True)},
            "off": {**OTHER_FEATURES, **dict.fromkeys(flags, False)},
            "absent": dict(OTHER_FEATURES),
        }

    def _times(self, count: int) -> np.ndarray:
        whole = max(1, int(np.ceil(self.days)))
        volume = np.exp(self.rng.normal(0, self.b.day_spread, whole))
        day = self.rng.choice(whole, size=count, p=volume / volume.sum())
        hour = self.rng.choice(24, size=count, p=_HOURLY)
        seconds = day * 86400.0 + hour * 3600.0 + self.rng.uniform(0, 3600, count)
        return np.minimum(seconds, self.days * 86400.0 - 1.0)

    def events(self, ids: _Ids) -> Iterator[tuple[Any, ...]]:
        """Rows in the contract's order: id, created_at, event_type, context, order_id, merchant_id."""
        b, rng = self.b, self.rng
        n = int(rng.poisson(b.checkouts_per_day * self.days * self.scale))
        merchant = rng.choice(len(self.m.ids), size=n, p=self.m.weight)
        started = self._times(n)
        channel = rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARES)
        method = rng.choice(len(METHODS), size=n, p=METHOD_SHARES)

        # Outcome: completed at the merchant's own odds, failed at a flat rate, abandoned otherwise.
        odds = np.log(b.completed_rate / (1 - b.completed_rate)) + self.m.conversion[merchant]
        completed_p = np.minimum(1 / (1 + np.exp(-odds)), 1 - b.failed_rate)
        draw = rng.random(n)
        completed, failed = draw < completed_p, draw < completed_p + b.failed_rate
        outcome = np.where(completed, 0, np.where(failed, 2, 1))  # 0 completed, 1 abandoned, 2 failed
        paying = (outcome != 1) | (rng.random(n) >= b.abandon_before_payment)

        # Payment attempts per paying order: 1 + negative binomial, scaled by the merchant's retries.
        mean_extra = np.maximum((b.attempts_mean - 1) * self.m.retries[merchant], 1e-9)
        p = b.attempts_dispersion / (b.attempts_dispersion + mean_extra)
        attempts = np.where(paying, 1 + rng.negative_binomial(b.attempts_dispersion, p), 0)
        first_try = started + rng.uniform(30, 240, n)
        tail = rng.random(n) < b.auth_tail_share
        median = np.where(tail, b.auth_median_ms * b.auth_tail_factor, b.auth_median_ms) * self.m.latency[merchant]
        latency = rng.lognormal(np.log(median), b.auth_sigma)
        finished = np.where(
            paying,
            first_try + 20.0 * np.maximum(attempts - 1, 0) + latency / 1000 + 1,
            started + rng.uniform(60, 1800, n),
        )
        fraud = rng.random(int(attempts.sum())) < b.fraud_rate
        amount = np.round(np.exp(rng.normal(np.log(4500), 0.8, n))).astype(int)

        # Plain Python values from here on: the loop below runs once per session.
        merchant, channel, method, amount = merchant.tolist(), channel.tolist(), method.tolist(), amount.tolist()
        started, first_try, latency, finished = (
            started.tolist(),
            first_try.tolist(),
            latency.tolist(),
            finished.tolist(),
        )
        attempts, outcome, fraud = attempts.tolist(), outcome.tolist(), fraud.tolist()
        flagged = 0
        for k in range(n):
            order, shop = ids.order(), self.m.ids[merchant[k]]
            where = METHODS[method[k]]
            yield self._row(
                ids,
                started[k],
                "checkout.started",
                {"channel": CHANNELS[channel[k]], "cart_items": 1 + amount[k] % 5},
                order,
                shop,
            )
            tries = attempts[k]
            for attempt in range(1, tries + 1):
                last = attempt == tries
                declined = not last or outcome[k] == 2
                context = {
                    "attempt": attempt,
                    "payment_method": where,
                    "fraud_flagged": fraud[flagged],
                    "declined": declined,
                }
                flagged += 1
                yield self._row(
                    ids, first_try[k] + 20.0 * (attempt - 1), "checkout.payment_attempt", context, order, shop
                )
            if outcome[k] == 0 and tries:
                context = {"auth_latency_ms": round(latency[k], 3), "payment_method": where}
                yield self._row(
                    ids,
                    first_try[k] + 20.0 * (tries - 1) + latency[k] / 1000,
                    "checkout.payment_authorized",
                    context,
                    order,
                    shop,
                )
            if outcome[k] == 0:
                yield self._row(
                    ids,
                    finished[k],
                    "checkout.completed",
                    {"amount_cents": amount[k], "currency": "EUR"},
                    order,
                    shop,
                )
            elif outcome[k] == 2:
                yield self._row(ids, finished[k], "checkout.failed", {"decline_code": "do_not_honor"}, order, shop)
            else:
                yield self._row(
                    ids, finished[k], "checkout.abandoned", {"step": "payment" if tries else "shipping"}, order, shop
                )

    def _row(
        self, ids: _Ids, offset_s: float, event_type: str, context: dict[str, Any], order: str, merchant: str
    ) -> tuple[Any, ...]:
        mode = self.b.flags
        if mode == "off_or_absent":
            mode = "off" if self.rng.random() < 0.5 else "absent"
        context[self.flag_field] = self.features[mode]
        when = self.start + timedelta(seconds=offset_s)
        return (ids.event(), when, event_type, context, order, merchant)


def generate(
    scenario: Scenario, flags: tuple[str, ...], flag_field: str, *, scale: float = 1.0, seed: int = 20251112
) -> Iterator[tuple[Any, ...]]:
    """Every event of ``scenario``: BASELINE, the warm-up (flag already on), POST and the trailing hours."""
    rng = np.random.default_rng(seed)
    ids = _Ids(seed)
    count, spread = scenario.baseline.merchants, scenario.baseline.merchant_spread
    weight = np.exp(rng.normal(0, 1.0, count))
    merchants = _Merchants(
        ids=[ids.merchant(i) for i in range(count)],
        weight=weight / weight.sum(),
        conversion=rng.normal(0, spread, count),
        latency=np.exp(rng.normal(0, spread, count)),
        retries=np.exp(rng.normal(0, spread, count)),
    )
    spans = (
        (scenario.baseline, scenario.baseline_window.start, scenario.baseline_window.days),
        (scenario.post, scenario.flip, scenario.warmup.total_seconds() / 86400),
        (scenario.post, scenario.post_window.start, scenario.post_window.days),
        (scenario.post, scenario.post_window.end, scenario.trailing.total_seconds() / 86400),
    )
    for behaviour, start, days in spans:
        yield from _Span(behaviour, flags, flag_field, start, days, scale, rng, merchants).events(ids)


@dataclass(frozen=True, slots=True)
class CheckoutDemo:
    """The suite's demo scenarios (:class:`sprintgate.suite.Demo`), writing the suite's own flags."""

    flags: tuple[str, ...]
    flag_field: str

    def scenarios(self) -> Sequence[str]:
        return scenario_names()

    def describe(self, scenario: str) -> str:
        return load_scenario(scenario).description

    def windows(self, scenario: str) -> tuple[Window, Window, datetime]:
        found = load_scenario(scenario)
        return found.baseline_window, found.post_window, found.flip

    def rows(self, scenario: str, *, scale: float, seed: int) -> Iterator[tuple[Any, ...]]:
        return generate(load_scenario(scenario), self.flags, self.flag_field, scale=scale, seed=seed)
