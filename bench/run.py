"""Scale benchmark: the gate against a loaded PostgreSQL at 100 thousand, 1 million and 10 million
events per window, next to three floors (per window, one query over the rows the goals use that
reads, without classifying or grouping: the duration; the duration and both flags; every value the
goals measure), the naive way (fetch every duration, scipy.stats.bootstrap) and exact percentiles
in SQL.

    python bench/run.py                 # 100k, 1M, 10M events per window (about 15 minutes)
    python bench/run.py --quick         # 100k only, for CI (under a minute)
    python bench/run.py --variants      # also without the index and partitioned by month, at 1M

Prints a table and writes reports/bench/bench.csv and reports/bench/bench.png. Timings are medians of
repeated runs within this run; compare the ratios, not the seconds, across machines.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from scipy import stats

from sprintgate import contract
from sprintgate.canvas import plt
from sprintgate.queries import Query
from sprintgate.resources import resource_dir
from sprintgate.server import ThrowawayServer
from sprintgate.windows import Window

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "bench"
BASELINE = Window(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC))
POST = Window(datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 10, 16, tzinfo=UTC))
LOAD = Query("bench_load", (Path(__file__).parent / "load.sql").read_text(encoding="utf-8"))
READ_DURATION = "sum(coalesce((context ->> 'planner_duration_ms')::float8, (context ->> 'duration_ms')::float8, 0))"
READ_FLAGS = (
    "count(context #> '{flags,FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2}'), count(context #> '{flags,PLANNER_CACHE_ENABLED}')"
)
READ_THE_REST = """count(context -> 'cache_hit'), count(context ->> 'reasonCode'), count(context -> 'error'),
       count(context -> 'success'), count(booking_id), count(restaurant_id), min(created_at), max(created_at)"""


def floor_query(*reads: str) -> str:
    """One pass over the rows the goals use that reads ``reads`` and does nothing else."""
    return f"""select count(*), {", ".join(reads)} from observability_events
 where event_type = any(%(types)s) and created_at >= %(start)s and created_at < %(end)s"""


FLOOR, FLOOR_FLAGS, FLOOR_ALL = (
    floor_query(READ_DURATION),
    floor_query(READ_DURATION, READ_FLAGS),
    floor_query(READ_DURATION, READ_FLAGS, READ_THE_REST),
)
PLANNER = """select (context ->> 'planner_duration_ms')::float8 from observability_events
 where event_type = 'auto_assign.quote' and created_at >= %(start)s and created_at < %(end)s"""
EXACT = """select percentile_disc(0.95) within group (order by (context ->> 'planner_duration_ms')::float8)
  from observability_events where event_type = 'auto_assign.quote' and created_at >= %(start)s and created_at < %(end)s"""


@dataclass
class Row:
    variant: str
    events_per_window: int
    floor_s: float
    floor_flags_s: float
    floor_all_s: float
    gate_s: float
    ratio: float
    ratio_all: float
    gate_queries_s: float
    startup_s: float
    peak_rss_mb: float
    naive_s: float | None = None
    exact_sql_s: float | None = None
    verdicts: str = ""
    gate_exit: int = 0


def load(server: ThrowawayServer, n: int, variant: str) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:
        if variant == "partitioned":
            connection.execute("""create table observability_events (id uuid, created_at timestamptz not null, event_type text not null,
                booking_id uuid, restaurant_id uuid, context jsonb not null default '{}', primary key (id, created_at))
                partition by range (created_at)""")
            for month in (9, 10, 11):
                connection.execute(
                    f"create table observability_events_2026_{month:02d} partition of observability_events "
                    f"for values from ('2026-{month:02d}-01') to ('2026-{month + 1:02d}-01')"
                )
        else:
            connection.execute(
                (resource_dir("fixtures") / "schema.sql").read_text(encoding="utf-8").split("-- The index")[0]
            )
        late = Window(POST.end, POST.end + timedelta(hours=3))
        # The met rollout of fixtures/scenarios.toml in short: planner p95 x0.5, attempts per booking
        # 3.2 -> 1.2 (booking ids drawn per attempt row: a Poisson count, seen only when at least 1),
        # job and inline durations x0.35, cache hits 15 %.
        for window, tag, scale, job_scale, per_attempt, cache, flags, count in (
            (BASELINE, "b", 1.0, 1.0, 1 / 3, 0.0, False, n),
            (POST, "p", 0.5, 0.35, 2.7, 0.15, True, n),
            (late, "l", 0.5, 0.35, 2.7, 0.15, True, max(1000, n // 100)),
        ):
            text, params = LOAD.bind(
                {
                    "n": count,
                    "start": window.start,
                    "end": window.end,
                    "tag": tag,
                    "scale": scale,
                    "job_scale": job_scale,
                    "bookings_per_attempt": per_attempt,
                    "cache_hit_rate": cache,
                    "flags": flags,
                }
            )
            connection.execute("select setseed(0.42)")
            connection.execute(text, params)
        if variant != "no_index":
            connection.execute("create index on observability_events (event_type, created_at)")
        connection.execute("vacuum analyze observability_events")
        connection.execute("create role gate_reader login")
        connection.execute("grant select on all tables in schema public to gate_reader")


def median_seconds(run: Any, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def floor(server: ThrowawayServer, repeat: int, query: str) -> float:
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:

        def both() -> None:
            for window in (BASELINE, POST):
                connection.execute(
                    query, {"types": list(contract.EVENT_TYPES), "start": window.start, "end": window.end}
                ).fetchall()

        both()  # warm the cache like the gate's runs are
        return median_seconds(both, repeat)


def gate(server: ThrowawayServer, repeat: int) -> tuple[float, dict[str, Any]]:
    environment = {
        **os.environ,
        "STAGING_DATABASE_URL": f"postgresql://gate_reader@{server.host}:{server.port}/postgres",
    }
    results: list[dict[str, Any]] = []

    def once() -> None:
        with tempfile.TemporaryDirectory() as reports:
            done = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "measure_gate.py"),
                    reports,
                    "--baseline",
                    str(BASELINE),
                    "--post",
                    str(POST),
                ],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise RuntimeError(
                    f"the gate did not report (exit {done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
            results.append(json.loads(lines[-1]))

    seconds = median_seconds(once, repeat)
    middle = sorted(results, key=lambda r: r["wall_s"])[len(results) // 2]
    return seconds, middle


def naive(server: ThrowawayServer, resamples: int) -> tuple[float, str]:
    started = time.perf_counter()
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:
        base, post = (
            np.array([r[0] for r in connection.execute(PLANNER, {"start": w.start, "end": w.end}).fetchall()])
            for w in (BASELINE, POST)
        )
    result = stats.bootstrap(
        (post, base),
        lambda a, b, axis=-1: (
            np.quantile(a, 0.95, axis=axis, method="inverted_cdf")
            / np.quantile(b, 0.95, axis=axis, method="inverted_cdf")
        ),
        method="percentile",
        n_resamples=resamples,
        confidence_level=0.90,
        vectorized=True,
        batch=20,
        random_state=np.random.default_rng(1),
    ).confidence_interval
    verdict = "pass" if result.high < 0.70 else "fail" if result.low > 0.70 else "inconclusive"
    return time.perf_counter() - started, verdict


def exact(server: ThrowawayServer) -> tuple[float, str]:
    started = time.perf_counter()
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:
        base, post = (
            connection.execute(EXACT, {"start": w.start, "end": w.end}).fetchone()[0]  # type: ignore[index]
            for w in (BASELINE, POST)
        )
    return time.perf_counter() - started, "pass" if post / base <= 0.70 else "fail"


def measure(n: int, variant: str, *, compare: bool, resamples: int, repeat: int) -> Row:
    with ThrowawayServer(parent=Path("/var/tmp"), settings="-c max_parallel_workers_per_gather=2") as server:
        started = time.perf_counter()
        load(server, n, variant)
        print(f"  loaded {2 * n:,} events ({variant}) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        floor_s, floor_flags_s, floor_all_s = (floor(server, repeat, q) for q in (FLOOR, FLOOR_FLAGS, FLOOR_ALL))
        gate_s, result = gate(server, repeat)
        row = Row(
            variant=variant,
            events_per_window=n,
            floor_s=floor_s,
            floor_flags_s=floor_flags_s,
            floor_all_s=floor_all_s,
            gate_s=gate_s,
            ratio=gate_s / floor_s,
            ratio_all=gate_s / floor_all_s,
            gate_queries_s=result["query_s"],
            startup_s=gate_s - result["query_s"],
            peak_rss_mb=result["rss_mb"],
            verdicts=f"gate {result['planner_verdict']}",
            gate_exit=result["exit"],
        )
        if compare:
            row.naive_s, naive_verdict = naive(server, resamples)
            row.exact_sql_s, exact_verdict = exact(server)
            row.verdicts += f", naive {naive_verdict}, exact {exact_verdict}"
        return row


def plot(rows: list[Row]) -> None:
    indexed = [r for r in rows if r.variant == "indexed"]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    sizes = [r.events_per_window for r in indexed]
    axes.loglog(sizes, [r.floor_s for r in indexed], "o-", label="floor: count(*), sum(duration) per window")
    axes.loglog(sizes, [r.floor_all_s for r in indexed], "o-", label="floor: every measured value read once")
    axes.loglog(sizes, [r.gate_s for r in indexed], "o-", label="gate: pytest goals/ --env=staging, end to end")
    for attribute, label in (
        ("naive_s", "naive: fetch + scipy.stats.bootstrap"),
        ("exact_sql_s", "exact percentile_disc in SQL"),
    ):
        points = [(r.events_per_window, getattr(r, attribute)) for r in indexed if getattr(r, attribute) is not None]
        if points:
            axes.loglog(*zip(*points, strict=True), "s", label=label)
    axes.set_xlabel("events per window")
    axes.set_ylabel("seconds")
    axes.legend(fontsize=8, frameon=False)
    figure.savefig(OUT / "bench.png", dpi=110, metadata={"Software": None}, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k events per window only, for CI")
    parser.add_argument(
        "--variants", action="store_true", help="also without the index and partitioned by month, at 1M"
    )
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    args = parser.parse_args()
    sizes = [100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        compare = n == 1_000_000 or args.quick
        print(f"measuring {n:,} events per window", file=sys.stderr)
        rows.append(
            measure(
                n, "indexed", compare=compare, resamples=199 if args.quick else 9999, repeat=3 if n <= 1_000_000 else 1
            )
        )
        if args.variants and n == 1_000_000:
            rows.extend(
                measure(n, variant, compare=False, resamples=0, repeat=3) for variant in ("no_index", "partitioned")
            )
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "bench.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    plot(rows)
    header = (
        f"{'variant':12} {'events/window':>14} {'floor s':>8} {'flags s':>7} {'all s':>7} {'gate s':>8} {'ratio':>6} {'r. all':>6} "
        f"{'queries s':>9} {'startup s':>9} {'RSS MB':>7} {'naive s':>8} {'exact s':>8}  verdicts"
    )
    print(header)
    for r in rows:
        print(
            f"{r.variant:12} {r.events_per_window:>14,} {r.floor_s:>8.2f} {r.floor_flags_s:>7.2f} {r.floor_all_s:>7.2f} "
            f"{r.gate_s:>8.2f} {r.ratio:>6.2f} {r.ratio_all:>6.2f} {r.gate_queries_s:>9.2f} "
            f"{r.startup_s:>9.2f} {r.peak_rss_mb:>7.0f} {'' if r.naive_s is None else f'{r.naive_s:8.1f}':>8} "
            f"{'' if r.exact_sql_s is None else f'{r.exact_sql_s:8.2f}':>8}  {r.verdicts}"
        )
    print(f"written: {OUT / 'bench.csv'}, {OUT / 'bench.png'}")
    problems = [f"{r.variant} {r.events_per_window:,}: {problem}" for r in rows for problem in check(r)]
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


def check(row: Row) -> list[str]:
    """What must hold at every size: the gate passes the met rollout (exit 0), the three methods agree on
    the planner goal, and the client stays under 150 MB."""
    problems = []
    verdicts = {part.split()[1] for part in row.verdicts.split(", ")}
    if verdicts != {"pass"}:
        problems.append(f"verdicts disagree or are not PASS: {row.verdicts}")
    if row.gate_exit != 0:
        problems.append(f"the gate exited {row.gate_exit} on a rollout that meets every goal")
    if row.peak_rss_mb >= 150:
        problems.append(f"peak RSS {row.peak_rss_mb:.0f} MB >= 150 MB")
    return problems


if __name__ == "__main__":
    main()
