"""Evidence: the aggregates of one window, fetched with the named queries in ``sql/``.

The database does one pass per window and returns a few thousand aggregate rows (counts and log
buckets); no event row and no booking id leaves it.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import psycopg

from sprintgate import contract
from sprintgate.progress import QueryWatch
from sprintgate.queries import load_query
from sprintgate.stats import Histogram, bucket_of
from sprintgate.windows import Window

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class QueryRun:
    """What ran: the query, its bound parameters, how long it took and how many rows it returned."""

    name: str
    parameters: Mapping[str, str]
    seconds: float
    rows: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Proportion:
    """``hits`` out of ``n`` valid events."""

    hits: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    def __add__(self, other: Proportion) -> Proportion:
        return Proportion(hits=self.hits + other.hits, n=self.n + other.n)


_NONE = Proportion(hits=0, n=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowEvidence:
    """All that the goals need to know about one window."""

    window: Window
    events: Mapping[str, int]
    flags: Mapping[str, int]
    durations: Mapping[str, Histogram]
    excluded: Mapping[str, Mapping[str, int]]
    cache_hit: Proportion
    cache_hit_by_reason: Mapping[str, Proportion]
    quote_error: Proportion
    job_success: Proportion
    inline_timeout: Proportion
    attempts_per_booking: Histogram
    attempt_success: Proportion
    attempt_reasons: Mapping[str, int]
    demand_by_hour: Mapping[int, int]
    demand_by_restaurant: Mapping[str, int]
    first_at: datetime | None
    last_at: datetime | None
    queries: tuple[QueryRun, ...] = field(default=())

    def count(self, *event_types: str) -> int:
        return sum(self.events.get(t, 0) for t in event_types)

    def merge(self, other: WindowEvidence) -> WindowEvidence:
        """The evidence of two adjacent windows as one (counts and histograms add up)."""
        if self.window.end != other.window.start:
            raise ValueError(f"only adjacent windows merge, got {self.window} and {other.window}")
        return WindowEvidence(
            window=Window(self.window.start, other.window.end),
            events=_add(self.events, other.events),
            flags=_add(self.flags, other.flags),
            durations={k: self.durations[k].merge(other.durations[k]) for k in self.durations},
            excluded={
                k: _add(self.excluded.get(k, {}), other.excluded.get(k, {}))
                for k in sorted(set(self.excluded) | set(other.excluded))
            },
            cache_hit=self.cache_hit + other.cache_hit,
            cache_hit_by_reason={
                k: self.cache_hit_by_reason.get(k, _NONE) + other.cache_hit_by_reason.get(k, _NONE)
                for k in sorted(set(self.cache_hit_by_reason) | set(other.cache_hit_by_reason))
            },
            quote_error=self.quote_error + other.quote_error,
            job_success=self.job_success + other.job_success,
            inline_timeout=self.inline_timeout + other.inline_timeout,
            attempts_per_booking=self.attempts_per_booking.merge(other.attempts_per_booking),
            attempt_success=self.attempt_success + other.attempt_success,
            attempt_reasons=_add(self.attempt_reasons, other.attempt_reasons),
            demand_by_hour=_add(self.demand_by_hour, other.demand_by_hour),
            demand_by_restaurant=_add(self.demand_by_restaurant, other.demand_by_restaurant),
            first_at=self.first_at or other.first_at,
            last_at=other.last_at or self.last_at,
            queries=self.queries + other.queries,
        )


def _add(a: Mapping[K, int], b: Mapping[K, int]) -> dict[K, int]:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = merged.get(key, 0) + value
    return merged


def _run(
    connection: psycopg.Connection[Any],
    name: str,
    params: Mapping[str, Any],
    watch: QueryWatch | None = None,
    *,
    hashed: bool = False,
) -> tuple[psycopg.Cursor[Any], QueryRun]:
    """Run a named query. Its rows stay in the driver's compact result and become Python objects one
    at a time as the caller iterates: at 10 million events a window returns ~60,000 rows, which as
    Python tuples would cost the client ~30 MB.

    ``hashed`` forbids sorting for this query: the planner cannot see that classified JSON has few
    distinct values, so it would sort millions of rows where hashing thousands of groups is 1.5 to 2x
    faster (bench/run.py). Grouping by booking, with millions of groups, is faster sorted.
    """
    text, bound = load_query(name).bind(params)
    started = time.perf_counter()
    window = f" [{params['start']:%Y-%m-%d %H:%M}, {params['end']:%Y-%m-%d %H:%M})" if "start" in params else ""
    cursor = connection.cursor()
    try:
        with (
            watch.running(f"{name}{window}") if watch else contextlib.nullcontext(),
            connection.transaction() if hashed else contextlib.nullcontext(),
        ):
            if hashed:
                cursor.execute("set local enable_sort = off")
            cursor.execute(text, bound)
    except BaseException:
        cursor.close()
        raise
    shown = {k: (str(v) if not isinstance(v, list | tuple) else ",".join(map(str, v))) for k, v in params.items()}
    return cursor, QueryRun(name, shown, time.perf_counter() - started, cursor.rowcount)


def _rows_of_half(cursor: psycopg.Cursor[Any], half: int) -> Iterator[tuple[Any, ...]]:
    """The rows whose first column (second_half) is ``half``, without it, from the start of the result."""
    if cursor.rowcount > 0:
        cursor.scroll(0, mode="absolute")
    return (row[1:] for row in cursor if row[0] == half)


def fetch_run_evidence(
    connection: psycopg.Connection[Any], baseline: Window, post: Window, watch: QueryWatch | None = None
) -> Evidence:
    """Both windows. BASELINE comes back as its two halves (for the placebo check) from the same single
    pass, grouped by half; the newest event in the table is one index probe per event type."""
    first, second = fetch_halves(connection, baseline, watch)
    cursor, newest = _run(connection, "newest_event", {"event_types": list(contract.EVENT_TYPES)}, watch)
    with cursor:
        # Exactly one row (an aggregate); anything else fails the run rather than skip the late-data check.
        ((newest_event_at, checked_at),) = cursor.fetchall()
    merged = first.merge(second)
    return Evidence(
        baseline=replace(merged, queries=(*merged.queries, newest)),
        post=fetch_evidence(connection, post, watch),
        baseline_halves=(first, second),
        newest_event_at=newest_event_at,
        checked_at=checked_at,
    )


def fetch_evidence(
    connection: psycopg.Connection[Any], window: Window, watch: QueryWatch | None = None
) -> WindowEvidence:
    """The evidence of ``window`` as a whole."""
    return _fetch(connection, window, window.end, watch)[0]


def fetch_halves(
    connection: psycopg.Connection[Any], window: Window, watch: QueryWatch | None = None
) -> tuple[WindowEvidence, WindowEvidence]:
    """The evidence of the two halves of ``window``, from one pass over it."""
    first, second = _fetch(connection, window, window.halves()[0].end, watch)
    return first, second


def _fetch(
    connection: psycopg.Connection[Any], window: Window, middle: datetime, watch: QueryWatch | None
) -> list[WindowEvidence]:
    params = {"start": window.start, "middle": middle, "end": window.end}
    rows, main = _run(
        connection,
        "window_evidence",
        {**params, "event_types": list(contract.EVENT_TYPES), "max_duration_ms": contract.MAX_DURATION_MS},
        watch,
        hashed=True,
    )
    demand_rows, demand = _run(
        connection, "demand_mix", {**params, "demand_types": list(contract.DEMAND_EVENTS)}, watch, hashed=True
    )
    attempt_rows, attempts = _run(connection, "attempts_per_booking", params, watch)
    halves = [Window(window.start, middle), Window(middle, window.end)] if middle < window.end else [window]
    with rows, demand_rows, attempt_rows:
        return [
            assemble(
                half,
                _rows_of_half(rows, index),
                _rows_of_half(demand_rows, index),
                _rows_of_half(attempt_rows, index),
                queries=(main, demand, attempts) if index == 0 else (),
            )
            for index, half in enumerate(halves)
        ]


#: window_evidence's measure codes of a duration that is not a usable number.
NEGATIVE, MISSING, NOT_A_NUMBER = -1_000_000, -1_000_001, -1_000_002
_FLAG_STATES = {"tt": "on", "ff": "off", "tf": "mixed", "ft": "mixed", "??-": "absent"}
_DURATION_FAULTS = {NEGATIVE: "negative", MISSING: "missing", NOT_A_NUMBER: "not_a_number"}
_ABSURD_FROM = int(bucket_of(np.array([contract.MAX_DURATION_MS]))[0])


def assemble(  # noqa: PLR0912 - one branch per code of window_evidence.sql, side by side on purpose
    window: Window,
    rows: Iterable[tuple[Any, ...]],
    demand_rows: Iterable[tuple[Any, ...]],
    attempt_rows: Iterable[tuple[Any, ...]],
    *,
    queries: tuple[QueryRun, ...] = (),
) -> WindowEvidence:
    """Turn the rows of ``window_evidence``, ``demand_mix`` and ``attempts_per_booking`` into evidence.

    Every code the SQL returns is classified here; whatever is not usable is counted under its reason
    in ``excluded`` and left out of its measure.
    """
    events: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    buckets: dict[str, Counter[int]] = defaultdict(Counter)
    excluded: dict[str, Counter[str]] = defaultdict(Counter)
    cache: dict[str, Counter[str]] = defaultdict(Counter)
    quote_errors: Counter[str] = Counter()
    attempt_outcomes: Counter[str] = Counter()
    attempt_reasons: Counter[str] = Counter()
    firsts, lasts = [], []
    measure_of = {t: m for m, types in contract.DURATION_SOURCES.items() for t in types}
    for event_type, flag_code, measure, cache_code, reason, status, count, first_at, last_at in rows:
        n = int(count)
        events[event_type] += n
        flags[_FLAG_STATES.get(flag_code, "malformed")] += n
        firsts.append(first_at)
        lasts.append(last_at)
        if event_type in measure_of:
            fault = _DURATION_FAULTS.get(measure) or ("absurd" if measure > _ABSURD_FROM else None)
            if fault:
                excluded[measure_of[event_type]][fault] += n
            else:
                buckets[measure_of[event_type]][int(measure)] += n
        if event_type == contract.QUOTE:
            if cache_code in ("true", "false"):
                cache[reason][cache_code] += n
            else:
                excluded["cache_hit"]["cache_hit_not_boolean"] += n
            if status in (None, "null", "string"):
                quote_errors["error" if status == "string" else "ok"] += n
            else:
                excluded["quote_error"]["error_not_text"] += n
        elif event_type == contract.ATTEMPT:
            attempt_reasons[reason] += n
            if measure == 0:
                excluded["attempts_per_booking"]["no_booking"] += n
            if status in ("true", "false"):
                attempt_outcomes[status] += n
            else:
                excluded["attempt_success"]["success_not_boolean"] += n
    if flags.get("malformed"):
        excluded["flags"]["flags_malformed"] += flags["malformed"]
    by_hour: Counter[int] = Counter()
    by_restaurant: Counter[str] = Counter()
    for hour, restaurant, count in demand_rows:
        by_hour[int(hour)] += int(count)
        by_restaurant["(none)" if restaurant is None else str(restaurant)] += int(count)
    by_reason = {
        reason: Proportion(hits=c.get("true", 0), n=c.get("true", 0) + c.get("false", 0))
        for reason, c in sorted(cache.items())
    }
    return WindowEvidence(
        window=window,
        events=dict(events),
        flags=dict(flags),
        durations={m: Histogram.from_buckets(buckets[m].items()) for m in contract.DURATION_SOURCES},
        excluded={m: dict(c) for m, c in sorted(excluded.items())},
        cache_hit=Proportion(hits=sum(p.hits for p in by_reason.values()), n=sum(p.n for p in by_reason.values())),
        cache_hit_by_reason=by_reason,
        quote_error=Proportion(hits=quote_errors["error"], n=quote_errors["error"] + quote_errors["ok"]),
        job_success=Proportion(
            hits=events.get(contract.JOB_SUCCEEDED, 0), n=sum(events.get(t, 0) for t in contract.JOB_OUTCOMES)
        ),
        inline_timeout=Proportion(
            hits=events.get(contract.INLINE_TIMEOUT, 0), n=sum(events.get(t, 0) for t in contract.INLINE_OUTCOMES)
        ),
        attempts_per_booking=Histogram.from_pairs((float(a), int(b)) for a, b in attempt_rows),
        attempt_success=Proportion(
            hits=attempt_outcomes["true"], n=attempt_outcomes["true"] + attempt_outcomes["false"]
        ),
        attempt_reasons=dict(attempt_reasons),
        demand_by_hour=dict(sorted(by_hour.items())),
        demand_by_restaurant=dict(by_restaurant),
        first_at=min(firsts) if firsts else None,
        last_at=max(lasts) if lasts else None,
        queries=queries,
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """Both windows, with what tells whether they can be trusted: BASELINE's two halves (for the
    placebo check), the newest event in the table and when that was asked (for late data)."""

    baseline: WindowEvidence
    post: WindowEvidence
    baseline_halves: tuple[WindowEvidence, WindowEvidence] | None = None
    newest_event_at: datetime | None = None
    checked_at: datetime | None = None

    def window(self, name: str) -> WindowEvidence:
        return self.baseline if name == "BASELINE" else self.post
