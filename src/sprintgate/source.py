"""The telemetry source of a run: the embedded demo (started and loaded here) or a real database.

Everything the run reads comes from one REPEATABLE READ, READ ONLY transaction: the contract check,
the census, the flip, the evidence of both windows and the completeness check see one snapshot, so
rows committed while the run reads cannot be counted by one query and missed by another.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from sprintgate import compiler, contract
from sprintgate.compiler import Layout
from sprintgate.config import AUTO, DEMO, ConfigError, Settings
from sprintgate.database import DatabaseError, connect
from sprintgate.dsn import Dsn, DsnError, parse_dsn
from sprintgate.evidence import Census, Evidence, QueryRun, WindowEvidence, decode, read_arrays
from sprintgate.fixturedb import create_schema, load_rows
from sprintgate.kinds import Reads
from sprintgate.progress import QueryWatch
from sprintgate.queries import Query, load_query
from sprintgate.server import ServerError, ServerOptions, ThrowawayServer
from sprintgate.suite import Suite
from sprintgate.windows import EARLIEST, Window, WindowError, derive_windows

#: Rows dated more than this after the database clock are not plausible (clock skew allowance).
_SKEW = timedelta(minutes=5)
_ANCIENT = datetime(2000, 1, 1, tzinfo=UTC)


class GateError(RuntimeError):
    """The gate cannot judge this run (the flip cannot be found, ...): one line, never a PASS."""


def describe_fault(error: psycopg.Error, dsn: Dsn, suite: Suite) -> str:
    """One line for a fault during the run's queries; missing tables and columns name the contract."""
    text = dsn.scrub(" ".join(str(error).split()))
    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return f"sprintgate: the telemetry table does not match the contract ({text}); {suite.table} must have the columns in docs/telemetry.md."
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return f"sprintgate: permission denied ({text}); grant SELECT on {suite.table} to the gate's role."
    if isinstance(error, psycopg.errors.QueryCanceled):
        return f"sprintgate: a query hit the statement timeout ({text}); raise statement_timeout_s or add the index in the README."
    return f"sprintgate: reading {dsn.display} failed: {text}"


def _parameters(params: Mapping[str, Any]) -> dict[str, str]:
    shown = {}
    for name, value in params.items():
        plain = value.obj if isinstance(value, Jsonb) else value
        shown[name] = plain.isoformat() if isinstance(plain, datetime) else repr(plain)
    return shown


@dataclass
class _Reader:
    """Runs the run's queries on one connection, timing each and announcing long ones."""

    connection: psycopg.Connection[Any]
    table: str
    watch: QueryWatch | None
    runs: list[QueryRun]

    def _label(self, name: str) -> str:
        return name

    def rows(self, query: Query, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        text, bound = query.on(self.table).bind(params)
        started = time.perf_counter()
        with self._watching(query.name):
            rows = self.connection.execute(text, bound).fetchall()
        self.runs.append(
            QueryRun(
                query.name, query.on(self.table).text, _parameters(params), time.perf_counter() - started, len(rows)
            )
        )
        return rows

    def arrays(self, query: Query, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        text, bound = query.bind(params)
        started = time.perf_counter()
        with self._watching(query.name):
            count, arrays = read_arrays(self.connection, text, bound)
        self.runs.append(QueryRun(query.name, query.text, _parameters(params), time.perf_counter() - started, count))
        return arrays

    def _watching(self, name: str) -> Any:
        if self.watch is None:
            from contextlib import nullcontext  # noqa: PLC0415 - only when no one is watching

            return nullcontext()
        return self.watch.running(name)


def _normal(event_type: str) -> str:
    """What an event type says to a reader: compatibility forms folded (fullwidth letters), invisible
    and combining characters dropped, case folded, and every run of separators (space, ``_``, ``-``,
    ``.``) removed, so that a near-miss spelling of a declared type is caught as its variant."""
    decomposed = unicodedata.normalize("NFKD", event_type)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _INVISIBLE)
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", kept).casefold())


#: Unicode categories a reader does not see: format (zero-width), control, and combining marks.
_INVISIBLE = frozenset({"Cf", "Cc", "Mn", "Me"})


class TelemetrySource:
    """The database behind one run."""

    def __init__(
        self,
        settings: Settings,
        suite: Suite,
        environ: Mapping[str, str],
        server_options: ServerOptions | None = None,
        loading: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.suite = suite
        self.server_options = server_options
        self.loading = loading
        self._server: ThrowawayServer | None = None
        self.notes: list[str] = []
        self.dsn: Dsn | None = None
        env = settings.env
        if env.name == DEMO:
            if suite.demo is None:
                raise ConfigError(
                    f"sprintgate: the suite {suite.name!r} ships no demo scenarios; pass --env with a database."
                )
            names = list(suite.demo.scenarios())
            scenario = settings.scenario or names[0]
            if scenario not in names:
                raise ConfigError(
                    f"sprintgate: scenario {scenario!r} is not one of the suite's demo scenarios; known: {', '.join(names)}."
                )
            self.scenario = scenario
            return
        assert env.dsn_env is not None
        value = environ.get(env.dsn_env, "")
        if not value.strip():
            raise ConfigError(
                f"sprintgate: {env.dsn_env} is not set; export it or set dsn_env for "
                f"[tool.sprintgate.environments.{env.name}] in pyproject.toml."
            )
        try:
            self.dsn = parse_dsn(value, variable=env.dsn_env)
        except DsnError as error:
            raise ConfigError(f"sprintgate: {error}") from None
        if env.flip is None and (env.baseline is None or env.post is None):
            missing = "baseline" if env.baseline is None else "post"
            raise ConfigError(
                f"sprintgate: no {missing.upper()} window for env {env.name!r}; pass --{missing} START/END or "
                f"--flip TIME|auto, or set {missing} or flip in [tool.sprintgate.environments.{env.name}] in pyproject.toml."
            )

    @property
    def secrets(self) -> tuple[str, ...]:
        return () if self.dsn is None else self.dsn.secrets

    def _flip(self) -> datetime | str | None:
        env = self.settings.env
        if env.flip is None and env.name == DEMO:
            assert self.suite.demo is not None
            return self.suite.demo.windows(self.scenario)[2]
        return env.flip

    def planned_windows(self) -> tuple[Window | None, Window | None]:
        """The windows as far as they are known before connecting (``--flip=auto`` is found later)."""
        env, flip = self.settings.env, self._flip()
        if env.name == DEMO and env.baseline is None and env.post is None and env.flip is None:
            assert self.suite.demo is not None
            demo_base, demo_post, _ = self.suite.demo.windows(self.scenario)
            return demo_base, demo_post
        derived: tuple[Window | None, Window | None] = (None, None)
        if isinstance(flip, datetime):
            try:
                derived = derive_windows(flip, self.settings.window_days, self.settings.warmup_hours)
            except WindowError as error:
                raise ConfigError(f"sprintgate: {error}.") from None
        baseline, post = env.baseline or derived[0], env.post or derived[1]
        if baseline is not None and post is not None and baseline.end > post.start:
            raise ConfigError(f"sprintgate: BASELINE {baseline} must end before POST {post} starts.")
        return baseline, post

    def flip_label(self) -> str | None:
        flip = self._flip()
        return None if flip is None else (flip if isinstance(flip, str) else flip.isoformat())

    def describe(self) -> str:
        if self.dsn is not None:
            return self.dsn.display
        server = ThrowawayServer(options=self.server_options) if self._server is None else self._server
        return f"demo scenario {self.scenario} at scale {self.settings.demo_scale:g} on {server.describe()}"

    def _open_demo(self) -> Dsn:
        assert self.suite.demo is not None
        try:
            self._server = ThrowawayServer(options=self.server_options)
            self._server.start()
        except ServerError as error:
            raise DatabaseError(str(error)) from None
        with psycopg.connect(self._server.conninfo(), autocommit=True) as admin:
            admin.execute("create database sprintgate_demo")
        started = last = time.perf_counter()

        def progress(count: int) -> None:
            nonlocal last
            now = time.perf_counter()
            if self.loading is not None and now - last >= 3:
                last = now
                self.loading(
                    f"sprintgate: loading demo scenario {self.scenario}: {count:,} events so far ({now - started:.0f} s)"
                )

        with psycopg.connect(self._server.conninfo("sprintgate_demo"), autocommit=True) as owner:
            create_schema(owner, self.suite)
            rows = self.suite.demo.rows(self.scenario, scale=self.settings.demo_scale, seed=self.settings.seed)
            count = load_rows(owner, self.suite, rows, progress)
        if self.loading is not None:
            self.loading(
                f"sprintgate: loaded demo scenario {self.scenario}: {count:,} events in {time.perf_counter() - started:.0f} s"
            )
        return parse_dsn(self._server.conninfo("sprintgate_demo"), variable="the demo server")

    def fetch(self, reads: Iterable[Reads], watch: QueryWatch | None = None) -> Evidence:
        """Both windows' evidence from one snapshot; every database fault becomes one DatabaseError line."""
        dsn = self.dsn or self._open_demo()
        connection = connect(
            dsn,
            statement_timeout_s=self.settings.statement_timeout_s,
            connect_timeout_s=self.settings.connect_timeout_s,
            work_mem_mb=self.settings.work_mem_mb,
        )
        message = None
        try:
            with connection, connection.transaction():
                return self._read(connection, list(reads), watch)
        except psycopg.Error as error:
            message = describe_fault(error, dsn, self.suite)
        finally:
            connection.close()
        raise DatabaseError(message)

    def _read(self, connection: psycopg.Connection[Any], reads: list[Reads], watch: QueryWatch | None) -> Evidence:
        suite = self.suite
        reader = _Reader(connection, contract.quoted_table(suite), watch, [])
        snapshot, checked_at, _ = reader.rows(load_query("run_clock"), {})[0]
        found = dict(reader.rows(load_query("table_columns"), {"table": suite.table}))
        problems = contract.violations(suite, found)
        if problems:
            raise DatabaseError(
                f"sprintgate: the telemetry table {suite.table} does not meet the contract: {'; '.join(problems)} (docs/telemetry.md)."
            )
        indexes = reader.rows(load_query("table_indexes"), {"table": suite.table})
        unique_ids = any(unique for _, unique in indexes)
        advice = None
        if not any(re.search(r"\(\s*event_type\s*,\s*created_at\b", definition) for definition, _ in indexes):
            advice = (
                f"WARNING: {suite.table} has no index on (event_type, created_at), so every query scans the table; "
                f"create it with: create index concurrently on {suite.table} (event_type, created_at);"
            )
            self._note(advice)
        merged = _merge(reads)
        declared = _declared_types(suite, merged)
        baseline, post = self._resolve_windows(reader, checked_at, declared)
        present = [row[0] for row in reader.rows(load_query("event_types"), {})]
        variants = {
            t: d for t in present if t is not None and t not in declared for d in declared if _normal(t) == _normal(d)
        }
        others = [t for t in present if t is not None and t not in declared and t not in variants]
        census_rows = reader.rows(
            load_query("census"),
            {
                "types": [*declared, *variants, *others, None] if None in present else [*declared, *variants, *others],
                "count_types": others,
                "baseline_start": baseline.start,
                "baseline_end": baseline.end,
                "post_start": post.start,
                "post_end": post.end,
                "future": checked_at + _SKEW,
                "ancient": _ANCIENT,
            },
        )
        layout = Layout.of(
            (baseline, post), self.settings.thresholds.slot_hours, self.settings.thresholds.cluster_groups
        )
        plan = compiler.plan(
            suite,
            durations=merged.durations,
            rates=merged.rates,
            units=merged.units,
            categories=(*merged.categories, *((m.category, m.events) for m in suite.mixes)),
            budgets=merged.budgets,
            windows=(baseline, post),
            layout=layout,
            variants=variants,
        )
        query, params = compiler.evidence_query(plan)
        arrays = reader.arrays(query, params)
        unit_arrays = None
        compiled = compiler.units_query(plan)
        if compiled is not None:
            unit_arrays = reader.arrays(*compiled)
        demand = reader.arrays(*compiler.demand_query(plan))
        newest = reader.rows(
            load_query("newest_event"), {"event_types": list(declared), "plausible": checked_at + _SKEW}
        )[0][0]
        duplicates = None
        if not unique_ids:
            duplicates = {}
            for name, window in (("BASELINE", baseline), ("POST", post)):
                extra = reader.rows(
                    load_query("duplicate_ids"),
                    {"event_types": list(declared), "start": window.start, "end": window.end},
                )
                duplicates[name] = int(extra[0][0])
        first, second = decode(plan, arrays, unit_arrays, demand)
        census = Census(
            snapshot=str(snapshot),
            checked_at=checked_at,
            newest_event_at=newest,
            future_rows=sum(int(r[3]) for r in census_rows if r[0] in declared or r[0] in variants),
            ancient_rows=sum(int(r[4]) for r in census_rows if r[0] in declared or r[0] in variants),
            null_created_at=sum(int(r[5]) for r in census_rows if r[0] in declared or r[0] in variants),
            null_event_type={
                w: sum(int(r[i]) for r in census_rows if r[0] is None) for w, i in (("BASELINE", 1), ("POST", 2))
            },
            variants=variants,
            other_types={
                w: {r[0]: int(r[i]) for r in census_rows if r[0] in others and int(r[i])}
                for w, i in (("BASELINE", 1), ("POST", 2))
            },
            duplicate_ids=duplicates,
            unique_ids=unique_ids,
            index_advice=advice,
        )
        return Evidence(
            baseline=WindowEvidence(window=baseline, **first),
            post=WindowEvidence(window=post, **second),
            census=census,
            queries=tuple(reader.runs),
        )

    def _note(self, note: str) -> None:
        """A fact about this run for the header of every report, said on the terminal as it is found."""
        self.notes.append(note)
        if self.loading is not None:
            self.loading(f"sprintgate: {note}")

    def _resolve_windows(self, reader: _Reader, checked_at: datetime, declared: list[str]) -> tuple[Window, Window]:
        baseline, post = self.planned_windows()
        if baseline is not None and post is not None:
            return baseline, post
        try:
            search = Window(max(EARLIEST, checked_at - timedelta(days=self.settings.flip_search_days)), checked_at)
        except WindowError as error:
            raise GateError(f"sprintgate: the database clock is implausible for --flip=auto ({error}).") from None
        suite = self.suite
        first_on = reader.rows(
            load_query("flag_flip"),
            {
                "event_types": declared,
                "start": search.start,
                "end": search.end,
                "flags_on": Jsonb({suite.flag_field: dict.fromkeys(suite.flags, True)}),
            },
        )[0][0]
        if first_on is None:
            raise GateError(
                f"sprintgate: --flip=auto found no event with every flag ({', '.join(suite.flags)}) on in {search}: "
                "flag off vs flag still off; confirm the deployment enables the flags, or pass --flip TIME."
            )
        self._note(f"flip found at {first_on.isoformat()} (the first event with every flag on, searched in {search})")
        try:
            derived = derive_windows(first_on, self.settings.window_days, self.settings.warmup_hours)
        except WindowError as error:
            raise GateError(f"sprintgate: {error}.") from None
        return baseline or derived[0], post or derived[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@dataclass
class _Merged:
    durations: list[Any]
    rates: list[Any]
    units: list[Any]
    categories: list[Any]
    budgets: dict[str, list[float]]


def _merge(reads: Iterable[Reads]) -> _Merged:
    merged = _Merged([], [], [], [], {})
    for read in reads:
        merged.durations += [m for m in read.durations if m not in merged.durations]
        merged.rates += [m for m in read.rates if m not in merged.rates]
        merged.units += [m for m in read.units if m not in merged.units]
        merged.categories += [c for c in read.categories if c not in merged.categories]
        for measure, thresholds in read.budgets.items():
            merged.budgets.setdefault(measure, []).extend(t for t in thresholds if t not in merged.budgets[measure])
    return merged


def _declared_types(suite: Suite, merged: _Merged) -> list[str]:
    declared = list(dict.fromkeys(suite.demand))
    for measure in (*merged.durations, *merged.rates, *merged.units):
        declared += [e for e in measure.events if e not in declared]
    for _, events in merged.categories:
        declared += [e for e in events if e not in declared]
    for mix in suite.mixes:
        declared += [e for e in mix.events if e not in declared]
    return declared


__all__ = ["AUTO", "GateError", "TelemetrySource"]
