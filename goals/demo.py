"""Seeded synthetic telemetry of the auto-assign service for the scenarios in ``scenarios.toml``.

The demo environment (``pytest goals/``) loads one scenario into a throwaway PostgreSQL; the tests
load all of them. The same scenario, scale and seed always give the same rows. Shapes are realistic
enough to exercise the statistics: lognormal latencies with a heavy tail, overdispersed attempts per
booking, a daily cycle, restaurants that differ (a latency and retry factor each, and uneven volume),
and days that differ in volume.
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

FLAGS = ("FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2", "PLANNER_CACHE_ENABLED")
REASON_CODES = ("hard.no_capacity", "transient.hold_conflict")
CATALOGUE = Path(__file__).resolve().parent / "scenarios.toml"

#: Relative demand per hour of day (UTC): a lunch and a dinner peak.
_HOURLY = np.array([1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 9, 12, 12, 9, 6, 5, 7, 10, 13, 14, 11, 7, 4, 2], dtype=float)
_HOURLY /= _HOURLY.sum()


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    """How the application behaves in one window; see ``[defaults]`` in ``scenarios.toml``."""

    bookings_per_day: float
    restaurants: int
    restaurant_spread: float
    day_spread: float
    attempts_mean: float
    attempts_dispersion: float
    planner_median_ms: float
    planner_sigma: float
    planner_tail_share: float
    planner_tail_factor: float
    cache_hit_rate: float
    cache_hit_median_ms: float
    quote_error_rate: float
    job_success_rate: float
    job_median_ms: float
    job_sigma: float
    inline_runs_per_day: float
    inline_timeout_rate: float
    inline_timeout_ms: float
    inline_median_ms: float
    inline_sigma: float
    flags: str
    quotes: bool
    dirty_share: float


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


def load_scenario(name: str) -> Scenario:
    """The scenario ``name`` from ``scenarios.toml``."""
    catalogue = _catalogue()
    names = [k for k in catalogue if k not in ("timeline", "defaults")]
    if name not in names:
        raise KeyError(f"scenario {name!r} is not defined in {CATALOGUE.name}; known: {', '.join(names)}")
    known = {f.name for f in fields(Behaviour)}
    defaults = Behaviour(**{k: v for k, v in catalogue["defaults"].items() if k in known})
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
    """Deterministic, distinct UUIDs: a kind in the high bits, a counter in the low ones."""

    def __init__(self, seed: int) -> None:
        self._seed = seed & 0xFFFF_FFFF
        self._counters = {1: 0, 2: 0}

    def _next(self, kind: int) -> str:
        self._counters[kind] += 1
        return f"{self._seed:08x}-{kind:04x}-4000-8000-{self._counters[kind]:012x}"

    def event(self) -> str:
        return self._next(1)

    def booking(self) -> str:
        return self._next(2)

    def restaurant(self, index: int) -> str:
        return f"{self._seed:08x}-0003-4000-8000-{index:012x}"


@dataclass(frozen=True, slots=True)
class _Restaurants:
    """The restaurants of a run: ids, volume weights, and latency and retry factors (fixed per run)."""

    ids: list[str]
    weight: np.ndarray
    latency: np.ndarray
    retries: np.ndarray


class _Span:
    """Draws the events of one span of time with one behaviour."""

    def __init__(
        self,
        behaviour: Behaviour,
        start: datetime,
        days: float,
        scale: float,
        rng: np.random.Generator,
        restaurants: _Restaurants,
    ):
        self.b, self.start, self.days, self.scale, self.rng, self.r = behaviour, start, days, scale, rng, restaurants

    def _times(self, count: int) -> np.ndarray:
        whole = max(1, int(np.ceil(self.days)))
        volume = np.exp(self.rng.normal(0, self.b.day_spread, whole))
        day = self.rng.choice(whole, size=count, p=volume / volume.sum())
        hour = self.rng.choice(24, size=count, p=_HOURLY)
        seconds = day * 86400.0 + hour * 3600.0 + self.rng.uniform(0, 3600, count)
        return np.minimum(seconds, self.days * 86400.0 - 1.0)

    def _lognormal(self, median: np.ndarray | float, sigma: float, count: int) -> np.ndarray:
        return np.asarray(self.rng.lognormal(np.log(median), sigma, count))

    def _reasons(self, count: int) -> np.ndarray:
        return np.where(self.rng.random(count) < 0.6, REASON_CODES[1], REASON_CODES[0])

    def _restaurant(self, count: int) -> np.ndarray:
        return self.rng.choice(len(self.r.ids), size=count, p=self.r.weight)

    def events(self, ids: _Ids) -> Iterator[tuple[Any, ...]]:  # noqa: PLR0915 - one booking story, read top to bottom
        """Rows in the contract's order: id, created_at, event_type, context, booking_id, restaurant_id."""
        b, rng = self.b, self.rng
        bookings = int(rng.poisson(b.bookings_per_day * self.days * self.scale))
        booking_restaurant = self._restaurant(bookings)
        mean = 1 + (b.attempts_mean - 1) * self.r.retries[booking_restaurant]
        p = b.attempts_dispersion / (b.attempts_dispersion + mean - 1)
        attempts = 1 + rng.negative_binomial(b.attempts_dispersion, p, bookings)
        booking_at = self._times(bookings)
        booking_ids = [ids.booking() for _ in range(bookings)]
        succeeded = rng.random(bookings) < b.job_success_rate

        owner = np.repeat(np.arange(bookings), attempts)
        first = np.cumsum(attempts) - attempts
        number = np.arange(owner.size) - np.repeat(first, attempts) + 1
        gaps = rng.uniform(0.5, 30.0, owner.size)
        at = booking_at[owner] + np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], attempts)
        last = number == attempts[owner]
        ok = last & succeeded[owner]
        reasons = self._reasons(owner.size)
        if b.quotes:
            hit = rng.random(owner.size) < b.cache_hit_rate
            tail = rng.random(owner.size) < b.planner_tail_share
            median = (
                np.where(tail, b.planner_median_ms * b.planner_tail_factor, b.planner_median_ms)
                * self.r.latency[booking_restaurant[owner]]
            )
            duration = np.where(
                hit,
                self._lognormal(b.cache_hit_median_ms, 0.5, owner.size),
                self._lognormal(median, b.planner_sigma, owner.size),
            )
            error = rng.random(owner.size) < b.quote_error_rate
        for i in range(owner.size):
            k = int(owner[i])
            booking, restaurant = booking_ids[k], self.r.ids[booking_restaurant[k]]
            reason = None if ok[i] else str(reasons[i])
            if b.quotes:
                if hit[i]:
                    yield self._row(
                        ids,
                        at[i],
                        "auto_assign.planner_cache_hit",
                        {"reasonCode": reason} if reason else {},
                        booking,
                        restaurant,
                    )
                quote: dict[str, Any] = {"planner_duration_ms": round(float(duration[i]), 3), "cache_hit": bool(hit[i])}
                if reason:
                    quote["reasonCode"] = reason
                if error[i]:
                    quote["error"] = "planner threw: capacity snapshot unavailable"
                yield self._row(ids, at[i], "auto_assign.quote", quote, booking, restaurant)
            attempt: dict[str, Any] = {"attempt": int(number[i]), "success": bool(ok[i])}
            if reason:
                attempt["reasonCode"] = reason
            yield self._row(ids, at[i], "auto_assign.attempt", attempt, booking, restaurant)

        job_duration = self._lognormal(b.job_median_ms * self.r.latency[booking_restaurant], b.job_sigma, bookings)
        exhausted = rng.random(bookings) < 0.7
        ends = at[np.cumsum(attempts) - 1] + 1.0 if bookings else np.empty(0)
        for k in range(bookings):
            outcome = "succeeded" if succeeded[k] else ("exhausted" if exhausted[k] else "failed")
            context = {"duration_ms": round(float(job_duration[k]), 3), "attempts": int(attempts[k])}
            yield self._row(
                ids, ends[k], f"auto_assign.{outcome}", context, booking_ids[k], self.r.ids[booking_restaurant[k]]
            )

        runs = int(rng.poisson(b.inline_runs_per_day * self.days * self.scale))
        run_restaurant = self._restaurant(runs)
        timeouts = rng.random(runs) < b.inline_timeout_rate
        failed = rng.random(runs) < 0.05
        durations = np.where(
            timeouts,
            b.inline_timeout_ms,
            self._lognormal(b.inline_median_ms * self.r.latency[run_restaurant], b.inline_sigma, runs),
        )
        for k, run_at in enumerate(self._times(runs)):
            outcome = "timeout" if timeouts[k] else ("failed" if failed[k] else "succeeded")
            yield self._row(
                ids,
                run_at,
                f"inline_auto_assign.{outcome}",
                {"duration_ms": round(float(durations[k]), 3)},
                None,
                self.r.ids[run_restaurant[k]],
            )

    def _flags(self) -> dict[str, bool] | None:
        mode = self.b.flags
        if mode == "off_or_absent":
            mode = "off" if self.rng.random() < 0.5 else "absent"
        if mode == "absent":
            return None
        if mode not in ("on", "off"):
            raise ValueError(f"scenario flags must be on, off, absent or off_or_absent, got {mode!r}")
        return dict.fromkeys(FLAGS, mode == "on")

    def _row(
        self, ids: _Ids, offset_s: float, event_type: str, context: dict[str, Any], booking: str | None, restaurant: str
    ) -> tuple[Any, ...]:
        flags = self._flags()
        if flags is not None:
            context["flags"] = flags
        if self.b.dirty_share and self.rng.random() < self.b.dirty_share:
            context, booking = _corrupt(context, booking, event_type, self.rng)
        when = self.start + timedelta(seconds=float(offset_s))
        return (ids.event(), when, event_type, context, booking, restaurant)


def _corrupt(
    context: dict[str, Any], booking: str | None, event_type: str, rng: np.random.Generator
) -> tuple[dict[str, Any], str | None]:
    """One kind of damage that real telemetry shows, chosen at random for this event."""
    key = {"auto_assign.quote": "planner_duration_ms"}.get(event_type, "duration_ms")
    damage = ["flags_malformed"]
    if key in context:
        damage += ["wrong_type", "missing", "negative", "absurd"]
    if event_type == "auto_assign.quote":
        damage += ["cache_hit_wrong_type", "error_wrong_type"]
    if event_type == "auto_assign.attempt":
        damage += ["no_booking"]
    kind = damage[int(rng.integers(len(damage)))]
    context = dict(context)
    if kind == "flags_malformed":
        context["flags"] = "on"
    elif kind == "wrong_type":
        context[key] = str(context[key])
    elif kind == "missing":
        del context[key]
    elif kind == "negative":
        context[key] = -abs(context[key]) - 1.0
    elif kind == "absurd":
        context[key] = 1e12
    elif kind == "cache_hit_wrong_type":
        context["cache_hit"] = "yes"
    elif kind == "error_wrong_type":
        context["error"] = 500
    else:
        booking = None
    return context, booking


def generate(scenario: Scenario, *, scale: float = 1.0, seed: int = 20251112) -> Iterator[tuple[Any, ...]]:
    """Every event of ``scenario``: BASELINE, the warm-up (flags already on), POST and the trailing hours."""
    rng = np.random.default_rng(seed)
    ids = _Ids(seed)
    count = scenario.baseline.restaurants
    spread = scenario.baseline.restaurant_spread
    weight = np.exp(rng.normal(0, 1.0, count))
    restaurants = _Restaurants(
        ids=[ids.restaurant(i) for i in range(count)],
        weight=weight / weight.sum(),
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
        yield from _Span(behaviour, start, days, scale, rng, restaurants).events(ids)


class AutoAssignDemo:
    """The suite's demo scenarios (:class:`sprintgate.suite.Demo`)."""

    def scenarios(self) -> Sequence[str]:
        return [k for k in _catalogue() if k not in ("timeline", "defaults")]

    def describe(self, scenario: str) -> str:
        return load_scenario(scenario).description

    def windows(self, scenario: str) -> tuple[Window, Window, datetime]:
        found = load_scenario(scenario)
        return found.baseline_window, found.post_window, found.flip

    def rows(self, scenario: str, *, scale: float, seed: int) -> Iterator[tuple[Any, ...]]:
        return generate(load_scenario(scenario), scale=scale, seed=seed)
