"""The gate: opens the telemetry of one environment, fetches both windows once, and judges goals."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from sprintgate import contract
from sprintgate.config import DEMO, ConfigError, Settings
from sprintgate.database import DatabaseError, Dsn, connect
from sprintgate.evidence import Evidence, fetch_run_evidence
from sprintgate.fixturedb import create_schema, load_events
from sprintgate.goals import Goal
from sprintgate.preconditions import PRECONDITIONS, PreconditionCheck, check_preconditions, judge
from sprintgate.progress import QueryWatch
from sprintgate.queries import load_query
from sprintgate.results import GoalResult
from sprintgate.server import ThrowawayServer
from sprintgate.synthetic import load_scenario
from sprintgate.verdict import Verdict
from sprintgate.windows import Window


class GateError(RuntimeError):
    """The gate cannot judge this run (the flip cannot be found, ...): one line, never a PASS."""


class GoalNotMet(AssertionError):
    """A goal, guardrail or precondition FAILED."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.goal} [{result.kind.value}]: FAIL ({result.reason_code}): {result.reason}")
        self.result = result


class GoalInconclusive(Exception):
    """The evidence does not decide the goal either way."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.goal} [{result.kind.value}]: INCONCLUSIVE ({result.reason_code}): {result.reason}")
        self.result = result


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """What reproduces a run; printed in the report header and written into every report.

    The windows are ``None`` until the gate opens when they come from ``--flip=auto``.
    """

    env: str
    source: str
    baseline: Window | None
    post: Window | None
    confidence: float
    seed: int
    versions: Mapping[str, str]
    flip: str | None = None
    change_record: str | None = None
    change_record_url: str | None = None
    forced: str | None = None
    notes: tuple[str, ...] = ()
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def windows(self) -> str:
        if self.baseline is None or self.post is None:
            return "BASELINE and POST from the flag flip found in the telemetry (--flip=auto)"
        return f"BASELINE {self.baseline} POST {self.post} (half-open, UTC)"

    def lines(self) -> list[str]:
        lines = [
            f"sprintgate: env={self.env} source={self.source}",
            f"sprintgate: {self.windows}" + (f" flip={self.flip}" if self.flip else ""),
            f"sprintgate: confidence={self.confidence:g} seed={self.seed} "
            + " ".join(f"{k}={v}" for k, v in self.versions.items()),
        ]
        if self.change_record:
            lines.append(
                f"sprintgate: change record {self.change_record}"
                + (f" ({self.change_record_url})" if self.change_record_url else "")
            )
        if self.forced:
            lines.append(f"sprintgate: FORCED without a passing staging run: {self.forced}")
        return lines + [f"sprintgate: {note}" for note in self.notes]


def versions(root: Path) -> dict[str, str]:
    """The package version and, in a git checkout, the commit (with ``+dirty`` for local changes)."""
    found = {"sprintgate": version("sprintgate")}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = git("status", "--porcelain", "--untracked-files=no")
        found["git"] = git("rev-parse", "--short=12", "HEAD") + ("+dirty" if dirty else "")
    return found


def describe_fault(error: psycopg.Error, dsn: Dsn) -> str:
    """One line for a fault during the evidence queries; missing tables and columns name the contract."""
    text = dsn.scrub(" ".join(str(error).split()))
    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return (
            f"sprintgate: the telemetry table does not match the contract ({text}); "
            f"{contract.TABLE} must have the columns in docs/telemetry.md."
        )
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return f"sprintgate: permission denied ({text}); grant SELECT on {contract.TABLE} to the gate's role."
    if isinstance(error, psycopg.errors.QueryCanceled):
        return f"sprintgate: an evidence query hit the statement timeout ({text}); raise statement_timeout_s or add the index in the README."
    return f"sprintgate: the evidence query failed on {dsn.display}: {text}"


@dataclass
class Gate:
    """Judges goals on evidence fetched once; remembers every result for the reports."""

    evidence: Evidence
    settings: Settings
    goals: Mapping[str, Goal]
    info: RunInfo
    checks: dict[str, PreconditionCheck] = field(init=False)
    results: dict[str, GoalResult] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.checks = check_preconditions(self.evidence, list(self.goals.values()), self.settings.judging)

    def all_results(self) -> list[GoalResult]:
        """Every collected goal and every precondition, judged (for the overview; not recorded)."""
        return [self.results.get(g.id) or self._judge(g) for g in self.goals.values()] + [
            c.result for c in self.checks.values()
        ]

    def _judge(self, goal: Goal) -> GoalResult:
        configured = self.settings.targets.get(goal.id)
        goal = goal if configured is None else goal.with_target(configured)
        return judge(goal, self.evidence, self.settings.judging, self.checks, family_size=len(self.goals))

    def result(self, goal: Goal) -> GoalResult:
        if goal.id not in self.results:
            self.results[goal.id] = self._judge(goal)
        return self.results[goal.id]

    def precondition(self, name: str) -> GoalResult:
        if name not in self.checks:
            raise KeyError(f"sprintgate: {name!r} is not a precondition; known: {', '.join(PRECONDITIONS)}")
        self.results[name] = self.checks[name].result
        return self.results[name]

    @staticmethod
    def enforce(result: GoalResult) -> GoalResult:
        if result.verdict is Verdict.FAIL:
            raise GoalNotMet(result)
        if result.verdict is Verdict.INCONCLUSIVE:
            raise GoalInconclusive(result)
        return result

    def check(self, goal: Goal) -> GoalResult:
        """Judge ``goal``: return on PASS, raise :class:`GoalNotMet` or :class:`GoalInconclusive`."""
        return self.enforce(self.result(goal))

    def check_precondition(self, name: str) -> GoalResult:
        return self.enforce(self.precondition(name))


def derive_windows(flip: datetime, days: float, warmup_hours: float) -> tuple[Window, Window]:
    """BASELINE = the ``days`` before the flip; POST = the ``days`` after a warm-up that follows it."""
    length, warmup = timedelta(days=days), timedelta(hours=warmup_hours)
    return Window(flip - length, flip), Window(flip + warmup, flip + warmup + length)


class Telemetry:
    """The database behind one run: the embedded demo (started and loaded here) or a real one."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._server: ThrowawayServer | None = None
        self.notes: list[str] = []
        env = settings.env
        self.dsn: Dsn | None = None
        if env.name == DEMO:
            return
        assert env.dsn_env is not None
        value = (os.environ if environ is None else environ).get(env.dsn_env, "")
        if not value.strip():
            raise ConfigError(
                f"sprintgate: {env.dsn_env} is not set; export it or set dsn_env for "
                f"[tool.sprintgate.environments.{env.name}] in pyproject.toml."
            )
        self.dsn = Dsn(value)
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
            return load_scenario(self.settings.scenario).flip
        return env.flip

    def planned_windows(self) -> tuple[Window | None, Window | None]:
        """The windows as far as they are known before connecting (``--flip=auto`` is found later)."""
        env, flip = self.settings.env, self._flip()
        derived: tuple[Window | None, Window | None] = (None, None)
        if isinstance(flip, datetime):
            derived = derive_windows(flip, self.settings.window_days, self.settings.warmup_hours)
        return env.baseline or derived[0], env.post or derived[1]

    def flip_label(self) -> str | None:
        flip = self.settings.env.flip
        return None if flip is None else (flip if isinstance(flip, str) else flip.isoformat())

    def source(self) -> str:
        if self.dsn is not None:
            return self.dsn.display
        return f"embedded PostgreSQL, scenario {self.settings.scenario} at scale {self.settings.demo_scale:g}"

    def _open_demo(self) -> Dsn:
        self._server = ThrowawayServer()
        self._server.start()
        with psycopg.connect(self._server.conninfo(), autocommit=True) as admin:
            admin.execute("create database sprintgate_demo")
        with psycopg.connect(self._server.conninfo("sprintgate_demo"), autocommit=True) as owner:
            create_schema(owner)
            load_events(owner, self.settings.scenario, scale=self.settings.demo_scale, seed=self.settings.judging.seed)
        return Dsn(self._server.conninfo("sprintgate_demo"))

    def _resolve_windows(self, connection: psycopg.Connection[Any]) -> tuple[Window, Window]:
        baseline, post = self.planned_windows()
        if baseline is not None and post is not None:
            return baseline, post
        now = datetime.now(UTC)
        search = Window(now - timedelta(days=self.settings.flip_search_days), now)
        flip = find_flip(connection, search)
        if flip is None:
            raise GateError(
                f"sprintgate: --flip=auto found no event with both {' and '.join(contract.FLAG_NAMES)} on in {search}: "
                "flag off vs flag still off; confirm the deployment enables the flags, or pass --flip TIME."
            )
        self.notes.append(
            f"flip found at {flip.isoformat()} (the first event with both flags on, searched in {search})"
        )
        derived = derive_windows(flip, self.settings.window_days, self.settings.warmup_hours)
        return baseline or derived[0], post or derived[1]

    def fetch(self, watch: QueryWatch | None = None) -> Evidence:
        """Both windows' evidence; every database fault becomes one :class:`DatabaseError` line."""
        dsn = self.dsn or self._open_demo()
        connection = connect(
            dsn,
            statement_timeout_s=self.settings.statement_timeout_s,
            connect_timeout_s=self.settings.connect_timeout_s,
        )
        message = None
        try:
            with connection:
                baseline, post = self._resolve_windows(connection)
                missing_index = index_advice(connection)
                if missing_index:
                    self.notes.append(missing_index)
                return fetch_run_evidence(connection, baseline, post, watch)
        except psycopg.Error as error:
            message = describe_fault(error, dsn)
        raise DatabaseError(message)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def find_flip(connection: psycopg.Connection[Any], search: Window) -> datetime | None:
    """The first event with both flags on in ``search``."""
    text, params = load_query("flag_flip").bind(
        {"start": search.start, "end": search.end, "event_types": list(contract.EVENT_TYPES)}
    )
    row = connection.execute(text, params).fetchone()
    return None if row is None else row[0]


def index_advice(connection: psycopg.Connection[Any]) -> str | None:
    """A warning with the statement to run when the table lacks an (event_type, created_at) index."""
    text, params = load_query("table_indexes").bind({"table": contract.TABLE})
    definitions = [row[0] for row in connection.execute(text, params).fetchall()]
    if any(re.search(r"\(\s*event_type\s*,\s*created_at\b", d) for d in definitions):
        return None
    return (
        f"WARNING: {contract.TABLE} has no index on (event_type, created_at), so every evidence query scans the "
        f"table; create it with: create index concurrently on {contract.TABLE} (event_type, created_at);"
    )
