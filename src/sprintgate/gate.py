"""The gate: opens the telemetry of one environment, fetches both windows once, and judges goals."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from sprintgate import contract
from sprintgate.config import DEMO, ConfigError, Settings
from sprintgate.database import DatabaseError, Dsn, connect
from sprintgate.evidence import fetch_evidence
from sprintgate.fixturedb import create_schema, load_events
from sprintgate.goals import PRECONDITIONS, Evidence, Goal, PreconditionCheck, check_preconditions, judge
from sprintgate.results import GoalResult
from sprintgate.server import ThrowawayServer
from sprintgate.synthetic import load_scenario
from sprintgate.verdict import Verdict
from sprintgate.windows import Window


class GoalNotMet(AssertionError):
    """A goal, guardrail or precondition FAILED."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.goal}: FAIL: {result.reason}")
        self.result = result


class GoalInconclusive(Exception):
    """The evidence does not decide the goal either way."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.goal}: INCONCLUSIVE ({result.reason_code}): {result.reason}")
        self.result = result


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """What reproduces a run; printed in the report header and written into every report."""

    env: str
    source: str
    baseline: Window
    post: Window
    confidence: float
    seed: int
    versions: Mapping[str, str]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def lines(self) -> list[str]:
        return [
            f"sprintgate: env={self.env} source={self.source}",
            f"sprintgate: BASELINE {self.baseline} POST {self.post} (half-open, UTC)",
            f"sprintgate: confidence={self.confidence:g} seed={self.seed} "
            + " ".join(f"{k}={v}" for k, v in self.versions.items()),
        ]


def versions(root: Path) -> dict[str, str]:
    """The package version and, in a git checkout, the commit (with ``+dirty`` for local changes)."""
    found = {"sprintgate": version("sprintgate")}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        found["git"] = head + ("+dirty" if dirty else "")
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

    def result(self, goal: Goal) -> GoalResult:
        if goal.id not in self.results:
            configured = self.settings.targets.get(goal.id)
            goal = goal if configured is None else goal.with_target(configured)
            self.results[goal.id] = judge(goal, self.evidence, self.settings.judging, self.checks)
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


class Telemetry:
    """The database behind one run: the embedded demo (started and loaded here) or a real one."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._server: Any = None
        env = settings.env
        if env.name == DEMO:
            self.dsn: Dsn | None = None
            return
        assert env.dsn_env is not None
        value = (os.environ if environ is None else environ).get(env.dsn_env, "")
        if not value.strip():
            raise ConfigError(
                f"sprintgate: {env.dsn_env} is not set; export it or set dsn_env for "
                f"[tool.sprintgate.environments.{env.name}] in pyproject.toml."
            )
        self.dsn = Dsn(value)
        if env.baseline is None or env.post is None:
            missing = "baseline" if env.baseline is None else "post"
            raise ConfigError(
                f"sprintgate: no {missing.upper()} window for env {env.name!r}; pass --{missing} START/END "
                f"or set {missing} in [tool.sprintgate.environments.{env.name}] in pyproject.toml."
            )

    @property
    def secrets(self) -> tuple[str, ...]:
        return () if self.dsn is None else self.dsn.secrets

    def windows(self) -> tuple[Window, Window]:
        env = self.settings.env
        if env.name == DEMO and (env.baseline is None or env.post is None):
            scenario = load_scenario(self.settings.scenario)
            return env.baseline or scenario.baseline_window, env.post or scenario.post_window
        assert env.baseline is not None
        assert env.post is not None
        return env.baseline, env.post

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

    def fetch(self) -> Evidence:
        """Both windows' evidence; every database fault becomes one :class:`DatabaseError` line."""
        dsn = self.dsn or self._open_demo()
        baseline, post = self.windows()
        connection = connect(
            dsn,
            statement_timeout_s=self.settings.statement_timeout_s,
            connect_timeout_s=self.settings.connect_timeout_s,
        )
        message = None
        try:
            with connection:
                return Evidence(fetch_evidence(connection, baseline), fetch_evidence(connection, post))
        except psycopg.Error as error:
            message = describe_fault(error, dsn)
        raise DatabaseError(message)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
