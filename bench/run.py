"""Scale benchmark: the gate against a loaded PostgreSQL at 100 thousand, 1 million and 10 million
events per window, next to three floors, and the same data sharded over two PostgreSQL servers.

The data is the ``rollout_met`` scenario of goals/scenarios.toml (every goal met) with 5,000
restaurants of lognormal volume, generated inside the database by bench/load.sql. The floors are
one query per window over the rows the goals read that reads values and does nothing else:
(a) the duration; (b) the duration and every flag; (c) every value the goals measure, once
(``all s``). The gate runs end to end in a fresh process (``pytest goals/ --env=staging``);
its fixed start-up is its wall time minus its queries, and ``header s`` is when the terminal shows
the run's header. At 100k and 1M the naive way (fetch every planner duration, scipy.stats.bootstrap)
and exact percentiles in SQL must agree with the gate on the planner goal.

    python bench/run.py                   # 100k, 1M, 10M events per window, single server
    python bench/run.py --quick           # 100k only, for CI (under a minute)
    python bench/run.py --sharded         # also sharded: a coordinator and two shards (postgres_fdw)
    python bench/run.py --sizes 1000000 --sharded --repeat 5

Prints the tables and writes reports/bench/bench.csv, bench.png, the EXPLAIN (ANALYZE, VERBOSE) of
every gate query (explain-single-<n>.txt, explain-sharded-<n>.txt). Timings are medians of repeated
runs within this run; compare ratios, not seconds, across machines. Exits 1 when the gate does not
exit 0 on the met rollout, the methods disagree, the sharded run's outcomes differ from the single
server's, or the client's peak RSS reaches 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the goals package, as pytest's rootdir import gives it

from goals import rollout  # noqa: E402 - after the path above
from goals.demo import _HOURLY, Behaviour, load_scenario  # noqa: E402
from sprintgate.contract import columns, quoted_table  # noqa: E402
from sprintgate.database import connect  # noqa: E402
from sprintgate.dsn import parse_dsn  # noqa: E402
from sprintgate.fixturedb import create_schema  # noqa: E402
from sprintgate.measures import Duration, FieldPresent, FieldTrue, PerUnit, Rate  # noqa: E402
from sprintgate.queries import Query  # noqa: E402
from sprintgate.server import ThrowawayServer  # noqa: E402

OUT = ROOT / "reports" / "bench"
SUITE = rollout.SUITE
SCENARIO = load_scenario("rollout_met")
BASELINE, POST = SCENARIO.baseline_window, SCENARIO.post_window
RESTAURANTS = 5_000
READER = "gate_reader"
TABLE = quoted_table(SUITE)
MEASURES: tuple[Duration | Rate | PerUnit, ...] = tuple(
    m for m in vars(rollout).values() if isinstance(m, Duration | Rate | PerUnit)
)
#: The event types the gate reads: the suite's demand, every measure's and every mix's events.
TYPES = list(
    dict.fromkeys(
        [*SUITE.demand, *(e for m in MEASURES for e in m.events), *(e for x in SUITE.mixes for e in x.events)]
    )
)
LIMIT_MB = 150.0


# --- the data ---------------------------------------------------------------------------------------


def load_steps() -> dict[str, list[Query]]:
    """bench/load.sql as its steps, each a list of statements with their ``:named`` parameters."""
    text = (Path(__file__).parent / "load.sql").read_text(encoding="utf-8")
    steps: dict[str, list[Query]] = {}
    for part in re.split(r"^-- step: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = part.partition("\n")
        statements = [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE)]
        steps[name.strip()] = [Query(f"bench_load_{name.strip()}", s) for s in statements if s and not _comment(s)]
    return steps


def _comment(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def run_step(connection: psycopg.Connection[Any], step: list[Query], params: Mapping[str, Any]) -> None:
    for statement in step:
        text, bound = statement.bind({name: params[name] for name in statement.parameters})
        connection.execute(text, bound)


def rows_per_booking(b: Behaviour) -> float:
    """Expected rows a booking writes: per attempt a quote, an attempt and (on a hit) a cache hit; one job outcome."""
    attempts = 1 + (b.attempts_mean - 1) * math.exp(b.restaurant_spread**2 / 2)
    return attempts * (2 + b.cache_hit_rate) + 1 + b.inline_runs_per_day / b.bookings_per_day


def bookings_per_day(n: int) -> float:
    """Bookings a day such that BASELINE and POST together hold about ``2 n`` rows the gate reads
    (cache hit events, which no goal reads, come on top)."""
    read = (rows_per_booking(SCENARIO.baseline) + rows_per_booking(SCENARIO.post)) - SCENARIO.post.cache_hit_rate * (
        SCENARIO.post.attempts_mean
    )
    return 2 * n / (BASELINE.days * read)


def behaviour_params(b: Behaviour, bookings: float) -> dict[str, Any]:
    if b.attempts_dispersion != 2 or not b.quotes or b.dirty_share:
        raise SystemExit("bench/load.sql draws attempts with dispersion 2, always writes quotes and no dirty rows")
    scale = bookings / b.bookings_per_day
    params: dict[str, Any] = {f.name: getattr(b, f.name) for f in fields(b) if isinstance(getattr(b, f.name), float)}
    params.update(
        bookings_per_day=bookings,
        inline_runs_per_day=b.inline_runs_per_day * scale,
        flags=Jsonb(dict.fromkeys(SUITE.flags, b.flags == "on")),
    )
    return params


def spans() -> Iterator[tuple[Behaviour, datetime, int]]:
    """BASELINE, the warm-up (flags already on), POST and the trailing day, as goals/demo.py has them."""
    yield SCENARIO.baseline, BASELINE.start, round(BASELINE.days)
    yield SCENARIO.post, SCENARIO.flip, round(SCENARIO.warmup / timedelta(days=1))
    yield SCENARIO.post, POST.start, round(POST.days)
    yield SCENARIO.post, POST.end, round(SCENARIO.trailing / timedelta(days=1))


@contextmanager
def without_indexes(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """Drop the contract table's indexes while loading, and build them again after."""
    table = SUITE.table
    primary = connection.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = to_regclass(%s) and contype = 'p'",
        (table,),
    ).fetchall()
    others = connection.execute(
        "select indexname, indexdef from pg_indexes where tablename = %s and indexname <> all(%s)",
        (table, [name for name, _ in primary]),
    ).fetchall()
    for name, _ in primary:
        connection.execute(f'alter table {TABLE} drop constraint "{name}"')
    for name, _ in others:
        connection.execute(f'drop index "{name}"')
    yield
    for name, definition in primary:
        connection.execute(f'alter table {TABLE} add constraint "{name}" {definition}')
    for _, definition in others:
        connection.execute(definition)


def load(server: ThrowawayServer, n: int, seed: float = 0.42) -> int:
    """The contract's table (unlogged: loading writes no WAL; reads are the same), filled with ``n``
    events per window of ``rollout_met``; returns the rows in the table."""
    steps = load_steps()
    bookings = bookings_per_day(n)
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:
        create_schema(connection, SUITE)
        connection.execute(f"alter table {TABLE} set unlogged")
        with without_indexes(connection):
            run_step(
                connection,
                steps["setup"],
                {"seed": seed, "restaurants": RESTAURANTS, "restaurant_spread": SCENARIO.baseline.restaurant_spread},
            )
            for index, (behaviour, start, days) in enumerate(spans()):
                params = {
                    **behaviour_params(behaviour, bookings),
                    "start": start,
                    "days": days,
                    "hourly": [float(x) for x in _HOURLY],
                    "seed": seed / (index + 2),
                }
                run_step(connection, steps["bookings"], params)
                run_step(connection, steps["inline"], params)
            run_step(connection, steps["finish"], {})
        connection.execute(f"vacuum (analyze) {TABLE}")
        connection.execute(f"create role {READER} login")
        connection.execute(f"grant select on {TABLE} to {READER}")
        count = connection.execute(f"select count(*) from {TABLE}").fetchone()
    return int(count[0]) if count else 0


def window_counts(server: ThrowawayServer) -> tuple[int, int]:
    with psycopg.connect(server.conninfo()) as connection:
        found = []
        for window in (BASELINE, POST):
            row = connection.execute(
                f"select count(*) from {TABLE} where event_type = any(%s) and created_at >= %s and created_at < %s",
                (TYPES, window.start, window.end),
            ).fetchone()
            found.append(int(row[0]) if row else 0)
    return found[0], found[1]


# --- the floors -------------------------------------------------------------------------------------


def _fields() -> dict[str, list[str]]:
    """What the goals read, from the declared measures: duration fields, other JSON fields, columns."""
    durations = list(dict.fromkeys(m.field for m in MEASURES if isinstance(m, Duration)))
    others = [m.hit.field for m in MEASURES if isinstance(m, Rate) and isinstance(m.hit, FieldTrue | FieldPresent)]
    others += [x.category.field for x in SUITE.mixes]
    units = [m.unit for m in MEASURES if isinstance(m, PerUnit)]
    cluster = [SUITE.cluster] if SUITE.cluster else []
    return {
        "durations": durations,
        "others": list(dict.fromkeys(others)),
        "columns": list(dict.fromkeys(units + cluster)),
    }


def floor_queries() -> dict[str, str]:
    """Per window, one pass over the rows the goals read that reads values and does nothing else."""
    read = _fields()
    duration = "sum(coalesce(" + ", ".join(f"(context ->> '{f}')::float8" for f in read["durations"]) + ", 0))"
    flags = ", ".join(f"count(context #> '{{{SUITE.flag_field},{flag}}}')" for flag in SUITE.flags)
    rest = ", ".join(
        [f"count(context -> '{f}')" for f in read["others"]]
        + [f'count("{c}")' for c in read["columns"]]
        + ["min(created_at)", "max(created_at)"]
    )

    def one(*reads: str) -> str:
        return (
            f"select count(*), {', '.join(reads)} from {TABLE}\n"
            " where event_type = any(%(types)s) and created_at >= %(start)s and created_at < %(end)s"
        )

    return {"floor": one(duration), "flags": one(duration, flags), "all": one(duration, flags, rest)}


PLANNER = f"""select (context ->> 'planner_duration_ms')::float8 from {TABLE}
 where event_type = 'auto_assign.quote' and created_at >= %(start)s and created_at < %(end)s"""
EXACT = f"""select percentile_disc(0.95) within group (order by (context ->> 'planner_duration_ms')::float8)
  from {TABLE} where event_type = 'auto_assign.quote' and created_at >= %(start)s and created_at < %(end)s"""


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def gate_connection(server: ThrowawayServer) -> psycopg.Connection[Any]:
    """A connection with the gate's own session settings (read-only, REPEATABLE READ, jit off, ...)."""
    dsn = parse_dsn(reader_dsn(server), variable="bench")
    return connect(dsn, statement_timeout_s=3600, connect_timeout_s=10, work_mem_mb=128)


def reader_dsn(server: ThrowawayServer) -> str:
    return f"postgresql://{READER}@{server.host}:{server.port}/postgres"


def floors(server: ThrowawayServer, repeat: int) -> dict[str, float]:
    found = {}
    with gate_connection(server) as connection:
        for name, query in floor_queries().items():

            def both(query: str = query) -> None:
                for window in (BASELINE, POST):
                    connection.execute(query, {"types": TYPES, "start": window.start, "end": window.end}).fetchall()
                connection.rollback()

            both()  # warm the cache as the gate's repeated runs are
            found[name] = median_seconds(both, repeat)
    return found


def naive(server: ThrowawayServer, resamples: int) -> tuple[float, str]:
    from scipy import stats  # noqa: PLC0415 - only for the comparison

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
        values = []
        for window in (BASELINE, POST):
            row = connection.execute(EXACT, {"start": window.start, "end": window.end}).fetchone()
            values.append(float(row[0]) if row else math.nan)
    return time.perf_counter() - started, "pass" if values[1] / values[0] <= 0.70 else "fail"


# --- the gate ---------------------------------------------------------------------------------------


@dataclass
class GateRun:
    wall_s: float
    header_s: float
    rss_mb: float
    exit: int
    queries: dict[str, float]
    rows: dict[str, int]
    verdicts: dict[str, str]
    outcomes: dict[str, Any]
    notes: list[str]

    @property
    def query_s(self) -> float:
        return sum(self.queries.values())


def gate_once(dsn: str) -> GateRun:
    with tempfile.TemporaryDirectory() as reports:
        spawned = time.time()
        started = time.perf_counter()
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
            env={**os.environ, "STAGING_DATABASE_URL": dsn, "BENCH_SPAWNED": repr(spawned)},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(
            f"the gate did not report (exit {done.returncode}): {done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    found = json.loads(lines[-1])
    return GateRun(
        wall_s=wall,
        header_s=found["header_s"] or math.nan,
        rss_mb=found["rss_mb"],
        exit=found["exit"],
        queries=found["queries"],
        rows=found["rows"],
        verdicts=found["verdicts"],
        outcomes=found["outcomes"],
        notes=found["notes"],
    )


def gate(dsn: str, repeat: int) -> tuple[GateRun, list[GateRun]]:
    """One warm-up run, then ``repeat`` timed ones; the median run by wall time, and all of them."""
    gate_once(dsn)
    runs = [gate_once(dsn) for _ in range(repeat)]
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2], runs


def median_of(runs: list[GateRun], pick: Callable[[GateRun], float]) -> float:
    return statistics.median(pick(r) for r in runs)


@contextmanager
def explaining(server: ThrowawayServer) -> Iterator[None]:
    """auto_explain for the gate's role while inside: every statement's EXPLAIN (ANALYZE, VERBOSE) in
    the server log, as the gate ran it with its bound parameters."""
    settings = {
        "session_preload_libraries": "auto_explain",
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_verbose": "on",
        "auto_explain.log_nested_statements": "on",
    }
    with psycopg.connect(server.conninfo(), autocommit=True) as connection:
        for name, value in settings.items():
            connection.execute(f"alter role {READER} set {name} = '{value}'")
        try:
            yield
        finally:
            for name in settings:
                connection.execute(f"alter role {READER} reset {name}")


def explain(server: ThrowawayServer, dsn: str, path: Path) -> None:
    """Run the gate once with auto_explain and keep the plans of its queries (from the server log)."""
    assert server.datadir is not None
    log = server.datadir / "server.log"
    before = log.stat().st_size
    with explaining(server):
        gate_once(dsn)
    with log.open("rb") as handle:
        handle.seek(before)
        text = handle.read().decode(errors="replace")
    plans = [block for block in re.split(r"(?m)^(?=\S.*LOG:  duration: )", text) if "LOG:  duration: " in block]
    named = [p for p in plans if re.search(r"-- name: |select count\(\*\) as rows", p) or "Query Text" in p]
    path.write_text("\n".join(named), encoding="utf-8")


# --- sharding ---------------------------------------------------------------------------------------


SHARDS = 2
#: Options of the coordinator's postgres_fdw servers (the DBA's, not the gate's): shards are scanned
#: concurrently, and rows cross in batches of 10,000 rather than postgres_fdw's default 100.
FDW_OPTIONS = {"async_capable": "true", "fetch_size": "10000"}


def fdw_server(connection: psycopg.Connection[Any], name: str, server: ThrowawayServer, **options: str) -> None:
    extra = "".join(f", {key} '{value}'" for key, value in options.items())
    connection.execute(
        f"create server {name} foreign data wrapper postgres_fdw "
        f"options (host '{server.host}', port '{server.port}', dbname 'postgres'{extra})"
    )
    connection.execute(
        f"create user mapping for public server {name} options (user '{server.user}', password_required 'false')"
    )


def column_list() -> str:
    """The contract's columns as ``create table`` spells them."""
    return ", ".join(
        f'"{name}" {types[0]}{" not null" if name in ("created_at", "event_type", "context") else ""}'
        for name, types in columns(SUITE).items()
    )


def route(source: ThrowawayServer) -> None:
    """Views on the single server with the rows of each shard, as the coordinator's hash partitioning
    of restaurant_id routes them (``satisfies_hash_partition`` against a partitioned table of the same key)."""
    cluster = SUITE.cluster
    with psycopg.connect(source.conninfo(), autocommit=True) as connection:
        connection.execute(f'create table bench_routing ("{cluster}" uuid) partition by hash ("{cluster}")')
        for remainder in range(SHARDS):
            connection.execute(
                f"create table bench_routing_{remainder} partition of bench_routing "
                f"for values with (modulus {SHARDS}, remainder {remainder})"
            )
            connection.execute(
                f"create view bench_shard_{remainder} as select * from {TABLE} "
                f"where satisfies_hash_partition('bench_routing'::regclass, {SHARDS}, {remainder}, \"{cluster}\")"
            )


def build_shard(shard: ThrowawayServer, source: ThrowawayServer, remainder: int) -> int:
    """A shard: the contract's table with its indexes, holding the rows hash partition ``remainder``
    routes to it, copied from the single server (filtered there: only its rows cross)."""
    with psycopg.connect(shard.conninfo(), autocommit=True) as connection:
        create_schema(connection, SUITE)
        connection.execute(f"alter table {TABLE} set unlogged")
        connection.execute("create extension postgres_fdw")
        fdw_server(connection, "source", source, fetch_size="50000")
        connection.execute(
            f"create foreign table source_rows ({column_list()}) server source options (table_name 'bench_shard_{remainder}')"
        )
        with without_indexes(connection):
            connection.execute(f"insert into {TABLE} select * from source_rows")
        connection.execute("drop foreign table source_rows")
        connection.execute("drop server source cascade")
        connection.execute("drop extension postgres_fdw")
        connection.execute(f"vacuum (analyze) {TABLE}")
        row = connection.execute(f"select count(*) from {TABLE}").fetchone()
    return int(row[0]) if row else 0


def build_coordinator(coordinator: ThrowawayServer, shards: list[ThrowawayServer]) -> None:
    """The coordinator: ``observability_events`` partitioned by hash of the cluster column, each
    partition a foreign table on a shard (postgres_fdw, asynchronous), and the gate's role."""
    with psycopg.connect(coordinator.conninfo(), autocommit=True) as connection:
        connection.execute("create extension postgres_fdw")
        connection.execute(f'create table {TABLE} ({column_list()}) partition by hash ("{SUITE.cluster}")')
        for remainder, shard in enumerate(shards):
            fdw_server(connection, f"shard_{remainder}", shard, **FDW_OPTIONS)
            connection.execute(
                f"create foreign table {SUITE.table}_{remainder} partition of {TABLE} "
                f"for values with (modulus {SHARDS}, remainder {remainder}) "
                f"server shard_{remainder} options (table_name '{SUITE.table}')"
            )
        connection.execute(f"analyze {TABLE}")
        connection.execute(f"create role {READER} login")
        connection.execute(f"grant select on {TABLE} to {READER}")


@dataclass
class Row:
    setup: str
    events_per_window: int
    baseline_events: int
    post_events: int
    table_rows: int
    floor_s: float
    flags_s: float
    all_s: float
    gate_s: float
    ratio: float
    queries_s: float
    startup_s: float
    header_s: float
    rss_mb: float
    evidence_s: float
    units_s: float
    demand_s: float
    other_queries_s: float
    gate_exit: int
    repeats: int
    naive_s: float | None = None
    exact_s: float | None = None
    verdicts: str = ""
    problems: list[str] = field(default_factory=list)


def row_of(
    setup: str, n: int, counts: tuple[int, int], table_rows: int, found: dict[str, float], runs: list[GateRun]
) -> Row:
    middle = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    gate_s = median_of(runs, lambda r: r.wall_s)
    queries_s = median_of(runs, lambda r: r.query_s)
    split = {
        name: statistics.median(r.queries.get(name, 0.0) for r in runs) for name in ("evidence", "units", "demand")
    }
    row = Row(
        setup=setup,
        events_per_window=n,
        baseline_events=counts[0],
        post_events=counts[1],
        table_rows=table_rows,
        floor_s=found.get("floor", math.nan),
        flags_s=found.get("flags", math.nan),
        all_s=found.get("all", math.nan),
        gate_s=gate_s,
        ratio=gate_s / found["all"] if "all" in found else math.nan,
        queries_s=queries_s,
        startup_s=median_of(runs, lambda r: r.wall_s - r.query_s),
        header_s=median_of(runs, lambda r: r.header_s),
        rss_mb=max(r.rss_mb for r in runs),
        evidence_s=split["evidence"],
        units_s=split["units"],
        demand_s=split["demand"],
        other_queries_s=queries_s - sum(split.values()),
        gate_exit=max(r.exit for r in runs),
        repeats=len(runs),
    )
    failed = {k: v for k, v in middle.verdicts.items() if v != "pass"}
    row.verdicts = "gate: every check pass" if not failed else f"gate: {failed}"
    if any(r.exit != 0 for r in runs):
        row.problems.append(f"the gate exited {[r.exit for r in runs]} on a rollout that meets every goal ({failed})")
    if row.rss_mb >= LIMIT_MB:
        row.problems.append(f"peak RSS {row.rss_mb:.0f} MB >= {LIMIT_MB:.0f} MB")
    return row


def measure_single(
    n: int, args: argparse.Namespace, parent: Path, stack: ExitStack
) -> tuple[Row, ThrowawayServer, list[GateRun]]:
    server = stack.enter_context(ThrowawayServer(parent=parent))
    started = time.perf_counter()
    table_rows = load(server, n)
    counts = window_counts(server)
    say(
        f"  loaded {table_rows:,} rows ({counts[0]:,} BASELINE, {counts[1]:,} POST events the gate reads) in {time.perf_counter() - started:.0f} s"
    )
    found = floors(server, args.repeat)
    say(f"  floors: {', '.join(f'{k} {v:.2f} s' for k, v in found.items())}")
    _, runs = gate(reader_dsn(server), args.repeat)
    row = row_of("single", n, counts, table_rows, found, runs)
    say(f"  gate: {row.gate_s:.2f} s (queries {row.queries_s:.2f} s), ratio {row.ratio:.2f}")
    if n <= 1_000_000:
        row.naive_s, naive_verdict = naive(server, 199 if args.quick else 9999)
        row.exact_s, exact_verdict = exact(server)
        planner = runs[0].verdicts.get("planner_p95_reduction")
        row.verdicts += f"; planner: gate {planner}, naive {naive_verdict}, exact {exact_verdict}"
        if {planner, naive_verdict, exact_verdict} != {"pass"}:
            row.problems.append(f"the methods disagree on the planner goal: {row.verdicts}")
    if not args.quick:
        explain(server, reader_dsn(server), OUT / f"explain-single-{n}.txt")
    return row, server, runs


def measure_sharded(
    n: int, single: ThrowawayServer, reference: list[GateRun], args: argparse.Namespace, parent: Path
) -> Row:
    with ExitStack() as stack:
        shards = [stack.enter_context(ThrowawayServer(parent=parent)) for _ in range(SHARDS)]
        started = time.perf_counter()
        route(single)
        held = [build_shard(shard, single, remainder) for remainder, shard in enumerate(shards)]
        coordinator = stack.enter_context(ThrowawayServer(parent=parent))
        build_coordinator(coordinator, shards)
        say(
            f"  sharded: {' + '.join(f'{h:,}' for h in held)} rows on {SHARDS} shards in {time.perf_counter() - started:.0f} s"
        )
        counts = window_counts(coordinator)
        _, runs = gate(reader_dsn(coordinator), args.repeat)
        row = row_of("sharded", n, counts, sum(held), {}, runs)
        say(f"  sharded gate: {row.gate_s:.2f} s (queries {row.queries_s:.2f} s)")
        explain(coordinator, reader_dsn(coordinator), OUT / f"explain-sharded-{n}.txt")
        expected = reference[0].outcomes
        for run in runs:
            differ = sorted(k for k in expected.keys() | run.outcomes.keys() if expected.get(k) != run.outcomes.get(k))
            if differ:
                row.problems.append(f"sharded outcomes differ from the single server's for {differ}")
                break
        else:
            row.verdicts += f"; all {len(expected)} checks: verdicts, estimates and intervals equal the single server's"
        return row


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- output -----------------------------------------------------------------------------------------


def table(rows: list[Row]) -> list[str]:
    header = (
        f"{'setup':8} {'events/window':>13} {'floor s':>8} {'flags s':>8} {'all s':>7} {'gate s':>7} {'ratio':>6} "
        f"{'queries s':>9} {'evid. s':>7} {'units s':>7} {'dem. s':>6} {'other s':>7} {'startup s':>9} "
        f"{'header s':>8} {'RSS MB':>6} {'naive s':>7} {'exact s':>7}"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"{r.setup:8} {r.events_per_window:>13,} {r.floor_s:>8.2f} {r.flags_s:>8.2f} {r.all_s:>7.2f} {r.gate_s:>7.2f} "
            f"{r.ratio:>6.2f} {r.queries_s:>9.2f} {r.evidence_s:>7.2f} {r.units_s:>7.2f} {r.demand_s:>6.2f} "
            f"{r.other_queries_s:>7.2f} {r.startup_s:>9.2f} {r.header_s:>8.2f} {r.rss_mb:>6.0f} "
            f"{'' if r.naive_s is None else f'{r.naive_s:.1f}':>7} {'' if r.exact_s is None else f'{r.exact_s:.2f}':>7}"
        )
        lines.append(f"{'':8} {r.verdicts}")
    return lines


def plot(rows: list[Row]) -> None:
    from sprintgate.canvas import plt  # noqa: PLC0415 - only for the picture

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for setup, marker in (("single", "o-"), ("sharded", "s--")):
        mine = [r for r in rows if r.setup == setup]
        if not mine:
            continue
        sizes = [r.events_per_window for r in mine]
        if setup == "single":
            axes.loglog(sizes, [r.floor_s for r in mine], marker, label="floor: the duration, read once")
            axes.loglog(sizes, [r.all_s for r in mine], marker, label="floor: every measured value, read once")
        axes.loglog(
            sizes, [r.gate_s for r in mine], marker, label=f"gate ({setup}): pytest goals/ --env=staging, end to end"
        )
    axes.set_xlabel("events per window")
    axes.set_ylabel("seconds")
    axes.legend(fontsize=8, frameon=False)
    figure.savefig(OUT / "bench.png", dpi=110, metadata={"Software": None}, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k events per window only, for CI")
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="events per window, comma-separated")
    parser.add_argument(
        "--repeat", type=int, default=0, help="timed runs per measurement (default 3, 5 at 1M and less)"
    )
    parser.add_argument("--sharded", action="store_true", help="also run on a coordinator and two shards")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where the servers keep their data")
    args = parser.parse_args()
    sizes = [100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for n in sizes:
        here = argparse.Namespace(**{**vars(args), "repeat": args.repeat or (3 if args.quick or n > 1_000_000 else 5)})
        say(f"measuring {n:,} events per window")
        with ExitStack() as stack:
            row, server, runs = measure_single(n, here, args.dir, stack)
            rows.append(row)
            if args.sharded:
                rows.append(measure_sharded(n, server, runs, here, args.dir))
    with (OUT / "bench.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        writer.writerows({**asdict(r), "problems": "; ".join(r.problems)} for r in rows)
    if not args.quick:
        plot(rows)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"sprintgate scale benchmark, {stamp}, {os.cpu_count()} cores, scenario rollout_met, {RESTAURANTS:,} restaurants"
    )
    for line in table(rows):
        print(line)
    print(f"written: {OUT / 'bench.csv'}")
    problems = [f"{r.setup} {r.events_per_window:,}: {p}" for r in rows for p in r.problems]
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
