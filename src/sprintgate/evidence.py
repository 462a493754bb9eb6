"""Evidence: the aggregates of one window, fetched with the named queries in ``sql/``.

The database does one pass per window and returns a few thousand aggregate rows (counts and log
buckets); no event row and no booking id leaves it.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from sprintgate import contract
from sprintgate.queries import load_query
from sprintgate.stats import Histogram
from sprintgate.windows import Window


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
    first_at: datetime | None
    last_at: datetime | None
    queries: tuple[QueryRun, ...] = field(default=())

    def count(self, *event_types: str) -> int:
        return sum(self.events.get(t, 0) for t in event_types)


def _run(
    connection: psycopg.Connection[Any], name: str, params: Mapping[str, Any]
) -> tuple[list[tuple[Any, ...]], QueryRun]:
    text, bound = load_query(name).bind(params)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(text, bound)
        rows = cursor.fetchall()
    shown = {k: (str(v) if not isinstance(v, list | tuple) else ",".join(map(str, v))) for k, v in params.items()}
    return rows, QueryRun(name, shown, time.perf_counter() - started, len(rows))


def fetch_evidence(connection: psycopg.Connection[Any], window: Window) -> WindowEvidence:
    """Run the evidence queries for ``window`` and assemble their rows."""
    params = {"start": window.start, "end": window.end}
    rows, main = _run(
        connection,
        "window_evidence",
        {**params, "event_types": list(contract.EVENT_TYPES), "max_duration_ms": contract.MAX_DURATION_MS},
    )
    attempt_rows, attempts = _run(connection, "attempts_per_booking", params)
    return assemble(window, rows, attempt_rows, queries=(main, attempts))


def assemble(
    window: Window,
    rows: list[tuple[Any, ...]],
    attempt_rows: list[tuple[Any, ...]],
    *,
    queries: tuple[QueryRun, ...] = (),
) -> WindowEvidence:
    """Turn the rows of ``window_evidence`` and ``attempts_per_booking`` into evidence."""
    events: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    buckets: dict[str, list[tuple[int, int]]] = defaultdict(list)
    excluded: dict[str, Counter[str]] = defaultdict(Counter)
    cache: dict[str, Counter[str]] = defaultdict(Counter)
    errors: Counter[str] = Counter()
    firsts, lasts = [], []
    measure_of = {t: m for m, types in contract.DURATION_SOURCES.items() for t in types}
    measure_of[contract.ATTEMPT] = "attempts_per_booking"
    for section, event_type, label, detail, bucket, count, first_at, last_at in rows:
        n = int(count)
        if section == "flags":
            events[event_type] += n
            flags[label] += n
            firsts.append(first_at)
            lasts.append(last_at)
        elif section == "quality" and label is not None:
            measure = measure_of[event_type]
            if label == "ok":
                if bucket is not None:
                    buckets[measure].append((int(bucket), n))
            else:
                excluded[measure][label] += n
        elif section == "cache" and event_type == contract.QUOTE:
            if label == "malformed":
                excluded["cache_hit"]["cache_hit_not_boolean"] += n
            else:
                cache[detail][label] += n
        elif section == "error" and label is not None:
            errors[label] += n
    if flags.get("malformed"):
        excluded["flags"]["flags_malformed"] += flags["malformed"]
    if errors.get("malformed"):
        excluded["quote_error"]["error_not_text"] += errors["malformed"]
    by_reason = {
        reason: Proportion(hits=c.get("true", 0), n=c.get("true", 0) + c.get("false", 0))
        for reason, c in sorted(cache.items())
    }
    return WindowEvidence(
        window=window,
        events=dict(events),
        flags=dict(flags),
        durations={m: Histogram.from_buckets(buckets.get(m, [])) for m in contract.DURATION_SOURCES},
        excluded={m: dict(c) for m, c in sorted(excluded.items())},
        cache_hit=Proportion(hits=sum(p.hits for p in by_reason.values()), n=sum(p.n for p in by_reason.values())),
        cache_hit_by_reason=by_reason,
        quote_error=Proportion(hits=errors.get("error", 0), n=errors.get("error", 0) + errors.get("ok", 0)),
        job_success=Proportion(
            hits=events.get(contract.JOB_SUCCEEDED, 0), n=sum(events.get(t, 0) for t in contract.JOB_OUTCOMES)
        ),
        inline_timeout=Proportion(
            hits=events.get(contract.INLINE_TIMEOUT, 0), n=sum(events.get(t, 0) for t in contract.INLINE_OUTCOMES)
        ),
        attempts_per_booking=Histogram.from_pairs((float(a), int(b)) for a, b in attempt_rows),
        first_at=min(firsts) if firsts else None,
        last_at=max(lasts) if lasts else None,
        queries=queries,
    )
