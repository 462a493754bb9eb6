"""Acceptance runs against a real database the gate does not own: a separate PostgreSQL server with
password logins, a read-only role, data loaded by the test, and `pytest goals/ --env=staging` run as a
subprocess. Verdicts, exit codes, secrets, writes, and each fault."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sprintgate.database import Dsn, connect
from sprintgate.fixturedb import create_schema, load_events
from sprintgate.server import ThrowawayServer
from sprintgate.synthetic import load_scenario
from tests.conftest import TEST_SCALE

GOALS = Path(__file__).resolve().parent.parent / "goals"
ADMIN_PASSWORD = "Adm1n-only_pw"  # test secrets: they must never be printed
READER_PASSWORD = "R3ader-Secret_77"
WRITES = ("insert", "update", "delete", "create", "drop", "alter", "copy", "truncate", "grant")


def _load(server: ThrowawayServer, dbname: str, scenario: str | None, *, index: bool = True) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(f"create database {dbname}")
    with psycopg.connect(server.conninfo(dbname), autocommit=True) as owner:
        if scenario is None:
            owner.execute(
                "create table observability_events (id uuid primary key, created_at timestamptz, event_type text)"
            )
        else:
            create_schema(owner)
            if not index:
                owner.execute("drop index observability_events_type_time")
            load_events(owner, scenario, scale=TEST_SCALE)
        owner.execute("grant select on observability_events to gate_reader")


@pytest.fixture(scope="module")
def telemetry_server() -> Iterator[ThrowawayServer]:
    """The team's database: password logins, every statement logged with its application name."""
    with ThrowawayServer(password=ADMIN_PASSWORD, settings="-c log_statement=all -c log_line_prefix=%a:") as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute(f"create role gate_reader login password '{READER_PASSWORD}'")
            admin.execute("create role no_select login password 'n0-select-pw'")
        _load(server, "telemetry", "rollout_met")
        _load(server, "regressed", "rollout_regressed")
        _load(server, "unindexed", "rollout_met", index=False)
        _load(server, "wrong_shape", None)
        yield server


def _dsn(server: ThrowawayServer, dbname: str, user: str = "gate_reader", password: str = READER_PASSWORD) -> str:
    return f"postgresql://{user}:{password}@{server.host}:{server.port}/{dbname}"


def _windows(name: str = "rollout_met") -> list[str]:
    scenario = load_scenario(name)
    return ["--baseline", str(scenario.baseline_window), "--post", str(scenario.post_window)]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(GOALS, pytester.path / "goals")
    return pytester


def _secrets_absent(result: pytest.RunResult, root: Path) -> None:
    written = "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc")
    for secret in (READER_PASSWORD, ADMIN_PASSWORD):
        assert secret not in result.stdout.str() + result.stderr.str()
        assert secret not in written


def _gate_statements(server: ThrowawayServer) -> list[str]:
    assert server.datadir is not None
    log = (server.datadir / "server.log").read_text(errors="replace")
    # Simple queries log as "statement: ...", parameterised ones as "execute <unnamed>: ..."; a
    # statement's further lines follow without a prefix.
    statements: list[str] = []
    current: list[str] | None = None
    for line in log.splitlines():
        match = re.match(r"(\w*):(?:LOG|ERROR|DETAIL|FATAL|STATEMENT):", line)
        if match is None:
            if current is not None:
                current.append(line)
            continue
        if current is not None:
            statements.append(" ".join(current).strip().lower())
        entry = re.match(r"sprintgate:LOG:\s+(?:statement|execute [^:]*):(.*)", line)
        current = [entry.group(1)] if entry else None
    if current is not None:
        statements.append(" ".join(current).strip().lower())
    return statements


class TestStagingRun:
    def test_a_met_rollout_passes_reading_only(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Exit 0, every goal passes, the password is nowhere, and the gate sent the server no write."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        result = suite.runpytest_subprocess(
            "goals",
            "--env=staging",
            *_windows(),
            "--showlocals",
            "--junitxml=junit.xml",
            f"--alluredir={suite.path / 'allure'}",
        )
        assert result.ret == 0
        result.assert_outcomes(passed=12)
        statements = _gate_statements(telemetry_server)
        assert statements, "the server log shows no statement from the gate"
        assert not [s for s in statements if s.split(None, 1)[0] in WRITES]
        _secrets_absent(result, suite.path)

    def test_a_regression_fails_and_recommends_the_rollback(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A breached guardrail fails (exit 1) and names the rollback of the rollout document."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "regressed"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows("rollout_regressed"))
        assert result.ret == 1
        result.stdout.fnmatch_lines(
            ["*job_success_rate: FAIL*roll back with FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false*"]
        )

    def test_flip_auto_finds_the_flip_and_derives_the_windows(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """--flip=auto reports the first flagged event and judges the windows around it."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        result = suite.runpytest_subprocess("goals", "--env=staging", "--flip=auto")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["*flip found at 2026-10-08T00:*"])
        document = json.loads((suite.path / "reports" / "staging" / "results.json").read_text())
        assert document["baseline"]["end"].startswith("2026-10-08T00:")
        assert document["post"]["start"].startswith("2026-10-09T00:")

    def test_a_missing_index_is_reported_with_the_statement(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Without the (event_type, created_at) index the run warns with the statement that creates it."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "unindexed"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            [
                "*WARNING: observability_events has no index on (event_type, created_at)*create index concurrently on observability_events (event_type, created_at);*"
            ]
        )


class TestFaults:
    @pytest.mark.parametrize(
        ("dbname", "user", "password", "message"),
        [
            (
                "telemetry",
                "gate_reader",
                "wrong-password",
                "*could not connect to postgresql://gate_reader:***@127.0.0.1:*password authentication failed*",
            ),
            ("telemetry", "no_select", "n0-select-pw", "*permission denied*grant SELECT on observability_events*"),
            (
                "wrong_shape",
                "gate_reader",
                READER_PASSWORD,
                "*the telemetry table does not match the contract*docs/telemetry.md*",
            ),
        ],
        ids=["authentication", "permission", "missing-column"],
    )
    def test_fails_closed_with_one_line(
        self,
        suite: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch,
        telemetry_server: ThrowawayServer,
        dbname: str,
        user: str,
        password: str,
        message: str,
    ) -> None:
        """Every goal errors (exit 1) with one line that names the cause; no secret leaks, whatever the traceback style."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, dbname, user, password))
        for style in ("--tb=long", "--tb=native"):
            result = suite.runpytest_subprocess("goals", "--env=staging", *_windows(), style, "--showlocals")
            assert result.ret == 1
            result.assert_outcomes(errors=12)
            result.stdout.fnmatch_lines([message])
            _secrets_absent(result, suite.path)

    def test_statement_timeout_fails_closed(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A query that outlives statement_timeout_s is an error, never a PASS."""
        suite.makepyprojecttoml("[tool.sprintgate]\nstatement_timeout_s = 0.001\n")
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*an evidence query hit the statement timeout*"])

    def test_server_stopped_mid_run_fails_closed(self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        """Stopping the server right after the first evidence query errors every goal with one line."""
        with ThrowawayServer(password=ADMIN_PASSWORD) as server:
            with psycopg.connect(server.conninfo(), autocommit=True) as admin:
                admin.execute(f"create role gate_reader login password '{READER_PASSWORD}'")
            _load(server, "telemetry", "rollout_met")
            assert server.datadir is not None
            account = os.stat(server.datadir).st_uid
            suite.makeconftest(f"""
import subprocess
import sprintgate.evidence as evidence

original = evidence._run
calls = []

def stop_after_first(*args, **kwargs):
    result = original(*args, **kwargs)
    calls.append(args[1])
    if len(calls) == 1:
        subprocess.run([{server.binaries.tool("pg_ctl")!r}, "-D", {str(server.datadir / "data")!r}, "-m", "immediate", "stop"],
                       check=True, capture_output=True, user={account}, cwd="/")
    return result

evidence._run = stop_after_first
""")
            monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(server, "telemetry"))
            result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
            assert result.ret == 1
            result.assert_outcomes(errors=12)
            result.stdout.fnmatch_lines(["*sprintgate: the evidence query failed on postgresql://gate_reader:***@*"])
            _secrets_absent(result, suite.path)


class TestReadOnly:
    def test_the_server_refuses_writes_on_a_gate_connection(self, telemetry_server: ThrowawayServer) -> None:
        """The session is read-only: even a role that may write cannot write through the gate."""
        dsn = Dsn(f"postgresql://postgres:{ADMIN_PASSWORD}@{telemetry_server.host}:{telemetry_server.port}/telemetry")
        with (
            connect(dsn, statement_timeout_s=5, connect_timeout_s=5) as connection,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        ):
            connection.execute("delete from observability_events")
        with connect(dsn, statement_timeout_s=5, connect_timeout_s=5) as connection:
            row = connection.execute(
                "select current_setting('application_name'), current_setting('statement_timeout')"
            ).fetchone()
            assert row == ("sprintgate", "5s")


class TestPromotion:
    def test_production_needs_a_passing_staging_run(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Production is refused without staging results, runs after a passing staging run, and --force is recorded."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        monkeypatch.setenv("PRODUCTION_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        refused = suite.runpytest_subprocess("goals", "--env=production", *_windows())
        assert refused.ret == pytest.ExitCode.USAGE_ERROR
        refused.stderr.fnmatch_lines(
            ["ERROR: sprintgate: --env production refused: no staging results at *reports/staging/results.json*"]
        )

        forced = suite.runpytest_subprocess(
            "goals", "--env=production", *_windows(), "--force", "CAB approved, staging down"
        )
        assert forced.ret == 0
        document = json.loads((suite.path / "reports" / "production" / "results.json").read_text())
        assert document["forced"].startswith("CAB approved, staging down (overrode: no staging results")

        staged = suite.runpytest_subprocess("goals", "--env=staging", *_windows(), "--change-record", "CHG-42")
        assert staged.ret == 0
        promoted = suite.runpytest_subprocess(
            "goals",
            "--env=production",
            *_windows(),
            "--change-record",
            "CHG-42",
            f"--alluredir={suite.path / 'allure'}",
        )
        assert promoted.ret == 0
        document = json.loads((suite.path / "reports" / "production" / "results.json").read_text())
        assert document["forced"] is None
        assert document["change_record"] == {"id": "CHG-42", "url": None}
        combined = (suite.path / "reports" / "summary.md").read_text()
        assert (
            "| staging baseline | staging post-opt |" in combined.replace("Metric ", "").replace("| Metric", "|")
            or "staging baseline" in combined
        )
        assert "production baseline" in combined

        regressed = suite.runpytest_subprocess(
            "goals", "--env=production", *_windows(), "--target", "cache_hit_ceiling=0.2"
        )
        assert regressed.ret == pytest.ExitCode.USAGE_ERROR
        regressed.stderr.fnmatch_lines(["*the staging run used other targets for cache_hit_ceiling*"])
