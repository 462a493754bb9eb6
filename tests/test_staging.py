"""Acceptance runs against a real database the gate does not own: a separate PostgreSQL server with
password logins, a SELECT-only role, every statement logged, data loaded by the test (some of it hostile),
and `pytest goals/ --env=staging` run as a subprocess. Verdicts, exit codes, secrets, writes, faults,
rows the contract does not expect, one snapshot per run, and staging evidence production can verify."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from goals.rollout import SUITE
from sprintgate.decision import EXIT_CODES, Outcome
from sprintgate.fixturedb import create_schema, load_rows
from sprintgate.server import ThrowawayServer
from sprintgate.staging import sign
from tests.conftest import SEED, TEST_SCALE
from tests.suite import windows

GOALS = Path(__file__).resolve().parent.parent / "goals"
ADMIN_PASSWORD = "Adm1n-only_pw"  # test secrets: they must never be printed
READER_PASSWORD = "R3ader-Secret_77"
KEY = "k3y-for-signing-staging-evidence-0123456789"
WRITES = ("insert", "update", "delete", "create", "drop", "alter", "copy", "truncate", "grant", "lock")
Loader = Callable[[psycopg.Connection[Any]], None]


def _load(
    server: ThrowawayServer,
    dbname: str,
    scenario: str | None,
    extra: Loader | None = None,
    *,
    schema: str | None = None,
) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(f"create database {dbname}")
    with psycopg.connect(server.conninfo(dbname), autocommit=True) as owner:
        if schema is not None:
            owner.execute(schema)
        else:
            create_schema(owner, SUITE)
        if scenario is not None:
            assert SUITE.demo is not None
            load_rows(owner, SUITE, SUITE.demo.rows(scenario, scale=TEST_SCALE, seed=SEED))
        if extra is not None:
            extra(owner)
        owner.execute("grant select on observability_events to gate_reader")


def _hostile_quotes(owner: psycopg.Connection[Any]) -> None:
    """60,000 POST quotes whose context is not a JSON object: none may count as an error-free quote."""
    owner.execute(
        """insert into observability_events (id, created_at, event_type, context, restaurant_id)
           select gen_random_uuid(), '2026-10-12T10:00:00Z'::timestamptz + i * interval '1 second', 'auto_assign.quote',
                  (array['null'::jsonb, '"a string"'::jsonb, '[1, 2]'::jsonb])[1 + i % 3], null
             from generate_series(1, 60000) as i"""
    )


def _late_and_2099(owner: psycopg.Connection[Any]) -> None:
    """POST not yet complete (nothing after its end) but for one event dated 2099."""
    owner.execute("delete from observability_events where created_at >= '2026-10-16T00:00:00Z'")
    owner.execute(
        """insert into observability_events (id, created_at, event_type, context)
           values (gen_random_uuid(), '2099-01-01T00:00:00Z', 'auto_assign.succeeded', '{"duration_ms": 5}')"""
    )


#: Near-miss spellings of auto_assign.quote a reader cannot tell apart from it.
ZERO_WIDTH = "auto_assign.quote\u200b"
FULLWIDTH = "\uff21\uff35\uff34\uff2f_\uff21\uff33\uff33\uff29\uff27\uff2e.QUOTE"


def _messy(owner: psycopg.Connection[Any]) -> None:
    """Event types in another case, with a trailing space, an invisible character, fullwidth letters or
    other separators; rows without a type, rows without a time."""
    owner.execute(
        "alter table observability_events alter column event_type drop not null, alter column created_at drop not null"
    )
    owner.execute(
        """insert into observability_events (id, created_at, event_type, context)
           select gen_random_uuid(), '2026-10-12T10:00:00Z'::timestamptz + i * interval '1 minute',
                  (array['Auto_Assign.Quote', 'auto_assign.quote ', null, %s, %s, 'auto-assign.quote'])[1 + i %% 6],
                  '{"planner_duration_ms": 5}'
             from generate_series(1, 600) as i""",
        (ZERO_WIDTH, FULLWIDTH),
    )
    owner.execute(
        "insert into observability_events (id, created_at, event_type, context) values (gen_random_uuid(), null, 'auto_assign.quote', '{}')"
    )


def _duplicated(owner: psycopg.Connection[Any]) -> None:
    """A table without a primary key whose POST holds 2,000 rows twice."""
    owner.execute("alter table observability_events drop constraint observability_events_pkey")
    owner.execute(
        "insert into observability_events select * from observability_events "
        "where created_at >= '2026-10-09' and created_at < '2026-10-16' and event_type = 'auto_assign.quote' limit 2000"
    )


def _partial_unique_index(owner: psycopg.Connection[Any]) -> None:
    """Duplicates behind a unique index that covers no row (a partial one): it rules out nothing."""
    _duplicated(owner)
    owner.execute("create unique index on observability_events (id) where event_type = 'never'")


def _invalid_unique_index(owner: psycopg.Connection[Any]) -> None:
    """Duplicates behind the INVALID unique index a failed CREATE INDEX CONCURRENTLY leaves."""
    _duplicated(owner)
    with contextlib.suppress(psycopg.errors.UniqueViolation):
        owner.execute("create unique index concurrently events_id_unique on observability_events (id)")


def _case_insensitive(owner: psycopg.Connection[Any]) -> None:
    """event_type under a case-insensitive collation, with 4,000 fast POST rows written in capitals."""
    owner.execute("create collation ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
    owner.execute("alter table observability_events alter column event_type type text collate ci")
    owner.execute(
        """insert into observability_events (id, created_at, event_type, context)
           select gen_random_uuid(), '2026-10-12T10:00:00Z'::timestamptz + i * interval '1 second', 'AUTO_ASSIGN.QUOTE',
                  '{"planner_duration_ms": 1, "flags": {"FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2": true, "PLANNER_CACHE_ENABLED": true}}'
             from generate_series(1, 4000) as i"""
    )


def _icu_available(server: ThrowawayServer) -> bool:
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        return bool(admin.execute("select count(*) from pg_collation where collprovider = 'i'").fetchone()[0])  # type: ignore[index]


@pytest.fixture(scope="module")
def telemetry_server() -> Iterator[ThrowawayServer]:
    """The team's database: password logins, every statement logged with its application name."""
    with ThrowawayServer(password=ADMIN_PASSWORD, settings="-c log_statement=all -c log_line_prefix=%a:") as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute(f"create role gate_reader login password '{READER_PASSWORD}'")
            admin.execute("create role no_select login password 'n0-select-pw'")
        _load(server, "telemetry", "rollout_met")
        _load(server, "regressed", "rollout_regressed")
        _load(server, "hostile", "rollout_regressed", _hostile_quotes)
        _load(server, "late", "rollout_met", _late_and_2099)
        _load(server, "messy", "rollout_met", _messy)
        _load(server, "duplicated", "rollout_met", _duplicated)
        _load(server, "partial_index", "rollout_met", _partial_unique_index)
        _load(server, "invalid_index", "rollout_met", _invalid_unique_index)
        _load(server, "production", "rollout_met")
        if _icu_available(server):
            _load(server, "case_insensitive", "rollout_met", _case_insensitive)
        _load(
            server,
            "precise",
            "rollout_met",
            schema="create table observability_events (id character varying(36) primary key, created_at timestamp(3) with time zone not null, event_type character varying(64) not null, context jsonb not null, booking_id uuid, restaurant_id uuid); create index on observability_events (event_type, created_at)",
        )
        _load(
            server,
            "wrong_shape",
            None,
            schema="create table observability_events (id uuid primary key, created_at timestamp, event_type text, context jsonb, booking_id uuid, restaurant_id uuid)",
        )
        yield server


def _dsn(server: ThrowawayServer, dbname: str, user: str = "gate_reader", password: str = READER_PASSWORD) -> str:
    return f"postgresql://{user}:{password}@{server.host}:{server.port}/{dbname}"


def _windows(scenario: str = "rollout_met") -> list[str]:
    found = windows(scenario)
    return ["--baseline", found["baseline"], "--post", found["post"]]


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    shutil.copytree(GOALS, pytester.path / "goals", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.delenv("SPRINTGATE_SIGNING_KEY", raising=False)
    return pytester


def _secrets_absent(result: pytest.RunResult, root: Path) -> None:
    written = "\n".join(
        p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix not in (".pyc", ".png")
    )
    for secret in (READER_PASSWORD, ADMIN_PASSWORD):
        assert secret not in result.stdout.str() + result.stderr.str()
        assert secret not in written


def _gate_statements(server: ThrowawayServer) -> list[str]:
    assert server.datadir is not None
    log = (server.datadir / "server.log").read_text(errors="replace")
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


def _document(root: Path, env: str = "staging") -> dict[str, Any]:
    document = json.loads((root / "reports" / env / "results.json").read_text())
    assert isinstance(document, dict)
    return document


class TestStagingRun:
    def test_a_met_rollout_promotes_reading_only(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Exit 0, every check passes on one snapshot, the password is nowhere, and the gate sent no write."""
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
        result.assert_outcomes(passed=13)
        document = _document(suite.path)
        assert re.fullmatch(r"\d+:\d+:[\d,]*", document["snapshot"])
        statements = _gate_statements(telemetry_server)
        assert statements, "the server log shows no statement from the gate"
        assert not [s for s in statements if s.split(None, 1)[0] in WRITES]
        _secrets_absent(result, suite.path)

    def test_a_regression_names_the_rollback(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A breached guardrail fails (exit 1) and names the rollback the suite declares."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "regressed"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows("rollout_regressed"))
        assert result.ret == EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        result.stdout.fnmatch_lines(["*roll back (set FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false*"])

    def test_flip_auto_finds_the_flip(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """--flip=auto reports the first flagged demand event and judges the windows around it."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        suite.makepyprojecttoml("[tool.sprintgate]\nflip_search_days = 3660\n")
        result = suite.runpytest_subprocess("goals", "--env=staging", "--flip=auto")
        result.stdout.fnmatch_lines(["*flip found at 2026-10-08T00:*"])
        assert _document(suite.path)["baseline"]["end"].startswith("2026-10-08T00:")


class TestRowsTheContractDoesNotExpect:
    def test_non_object_contexts_never_count_as_clean(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """60,000 quotes with a null, string or array context are counted apart; the error guardrail still FAILs."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "hostile"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows("rollout_regressed"))
        assert result.ret == EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        document = _document(suite.path)
        errors = next(g for g in document["goals"] if g["id"] == "quote_error_rate")
        assert errors["verdict"] == "fail"
        assert errors["excluded_rows"]["post.context_not_object"] == 60000
        assert document["goals"][0]  # the report lists them
        assert any(e["reason"] == "context_not_object" and e["rows"] == 60000 for e in document["excluded_rows"])

    def test_a_row_dated_2099_does_not_complete_a_window(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Completeness reads plausible timestamps only: one event in 2099 leaves POST incomplete (exit 75)."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "late"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.WAIT]
        window = next(g for g in _document(suite.path)["goals"] if g["id"] == "window_sufficient")
        assert window["reason_code"] == "data_not_complete"
        understood = next(g for g in _document(suite.path)["goals"] if g["id"] == "telemetry_understood")
        assert understood["details"]["future_rows"] == 1

    def test_variants_and_rows_without_a_type_are_counted(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Near-miss spellings of a declared type (case, spaces, invisible or fullwidth characters,
        separators) are excluded and listed; rows without a type or time too.
        The goals those rows could swing wait rather than pass."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "messy"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.WAIT]
        result.stdout.fnmatch_lines(
            ["WAIT: *rows the measures of planner_p95_reduction, * could not read could explain*"]
        )
        document = _document(suite.path)
        understood = next(g for g in document["goals"] if g["id"] == "telemetry_understood")
        assert understood["details"]["variants"] == {
            "Auto_Assign.Quote": "auto_assign.quote",
            "auto_assign.quote ": "auto_assign.quote",
            ZERO_WIDTH: "auto_assign.quote",
            FULLWIDTH: "auto_assign.quote",
            "auto-assign.quote": "auto_assign.quote",
        }
        assert understood["details"]["null_event_type"]["POST"] == 100
        assert understood["details"]["null_created_at"] == 1
        planner = next(g for g in document["goals"] if g["id"] == "planner_p95_reduction")
        assert planner["excluded_rows"]["post.event type written 'Auto_Assign.Quote'"] == 100

    def test_a_wrong_column_type_is_one_line_naming_the_contract(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """created_at without a time zone: one line naming the contract, once, and no goal run."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "wrong_shape"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
        result.stdout.fnmatch_lines(
            [
                "*does not meet the contract: created_at is timestamp without time zone, the contract needs timestamp with time zone*"
            ]
        )
        assert "Traceback" not in result.stdout.str()
        assert len(result.stdout.lines) < 40

    @pytest.mark.parametrize("db", ["duplicated", "partial_index", "invalid_index"])
    def test_duplicate_ids_withhold_every_pass(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer, db: str
    ) -> None:
        """Without a unique index on id, or with one that rules out nothing (a partial index, or the
        INVALID one a failed concurrent build leaves), the gate counts duplicates: 2,000 of them make
        the run wait, not promote."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, db))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.WAIT]
        result.stdout.fnmatch_lines(
            [
                "WAIT: the telemetry repeats event ids (telemetry_understood); it blocks 8 goals*",
                "next: deduplicate the telemetry or add a unique index on id*",
            ]
        )
        understood = next(g for g in _document(suite.path)["goals"] if g["id"] == "telemetry_understood")
        assert "2,000 in POST rows repeat an id" in understood["reason"]

    def test_a_case_insensitive_event_type_is_outside_the_contract(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A nondeterministic collation would merge 'AUTO_ASSIGN.QUOTE' into clean quotes: one line, exit 69."""
        if not _icu_available(telemetry_server):
            pytest.skip("this PostgreSQL has no ICU collations")
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "case_insensitive"))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
        result.stdout.fnmatch_lines(["*does not meet the contract: event_type is text collate ci (nondeterministic)*"])

    def test_a_length_or_a_precision_is_still_the_contracts_type(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """varchar(36) ids and timestamp(3) with time zone times meet the contract: the met rollout promotes."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "precise"))
        assert suite.runpytest_subprocess("goals", "--env=staging", *_windows()).ret == 0


class TestFaults:
    @pytest.mark.parametrize(
        ("dsn", "line"),
        [
            (
                lambda s: f"postgresql://gate_reader:{READER_PASSWORD}@127.0.0.1:1/telemetry?connect_timeout=2",
                "*could not connect to postgresql://gate_reader:***@127.0.0.1:1/telemetry*",
            ),
            (
                lambda s: _dsn(s, "telemetry", password="wrong-" + READER_PASSWORD),
                "*could not connect to *password authentication failed*",
            ),
            (
                lambda s: _dsn(s, "telemetry", user="no_select", password="n0-select-pw"),
                "*permission denied*grant SELECT on observability_events*",
            ),
        ],
        ids=["unreachable", "wrong-password", "no-select"],
    )
    def test_is_one_line_once_and_exit_69(
        self,
        suite: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch,
        telemetry_server: ThrowawayServer,
        dsn: Callable[[ThrowawayServer], str],
        line: str,
    ) -> None:
        """A database fault is said once (not once per goal), never a PASS, and exits 69 so CI can retry."""
        monkeypatch.setenv("STAGING_DATABASE_URL", dsn(telemetry_server))
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows(), "--showlocals", "--tb=long")
        assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
        result.stdout.fnmatch_lines([line])
        assert result.stdout.str().count("COULD NOT MEASURE") == 2  # the moment it happened, and the headline
        assert _document(suite.path)["verdict"] == "error"
        _secrets_absent(result, suite.path)

    def test_a_lock_that_outlasts_the_statement_timeout_is_one_line(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A query held up past statement_timeout_s fails closed with the setting named."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        suite.makepyprojecttoml("[tool.sprintgate]\nstatement_timeout_s = 1\n")
        with psycopg.connect(telemetry_server.conninfo("telemetry")) as locker:
            locker.execute("lock table observability_events in access exclusive mode")
            result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
        result.stdout.fnmatch_lines(["*hit the statement timeout*raise statement_timeout_s*"])


class TestPasswordForms:
    @pytest.mark.parametrize(
        "password",
        ["p/ss@word 1", "x", "Zürich-∞#%", "'quoted' \\back"],
        ids=["slash-at-space", "one-letter", "unicode-hash-percent", "quotes-backslash"],
    )
    def test_a_password_in_any_form_appears_nowhere(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, password: str
    ) -> None:
        """Percent-encoded or quoted, a password the server refuses is shown as *** only; a one-letter one garbles nothing."""
        from urllib.parse import quote  # noqa: PLC0415

        quoted = password.replace("\\", "\\\\").replace("'", "\\'")
        for dsn in (
            f"postgresql://gate:{quote(password, safe='')}@127.0.0.1:1/telemetry?connect_timeout=2",
            f"host=127.0.0.1 port=1 user=gate dbname=telemetry password='{quoted}' connect_timeout=2",
        ):
            monkeypatch.setenv("STAGING_DATABASE_URL", dsn)
            result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
            assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
            output = result.stdout.str() + result.stderr.str()
            if len(password) > 1:
                assert password not in output
                assert quote(password, safe="") not in output
            assert "sprintgate: " in output
            assert "COULD NOT MEASURE" in output

    @pytest.mark.parametrize(
        "value",
        [
            "postgresql://gate:pa/ss@127.0.0.1:5432/telemetry",
            "hunter2-only-the-password",
            "postgresql://gate:p@ss@127.0.0.1/telemetry",
            "host=127.0.0.1 password=two words",
        ],
        ids=["unencoded-slash", "bare-value", "unencoded-at", "unquoted-space"],
    )
    def test_an_ambiguous_dsn_is_refused_without_echoing_it(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """A DSN that does not parse one way: exit 4, one line naming the variable, no part of the value."""
        monkeypatch.setenv("STAGING_DATABASE_URL", value)
        result = suite.runpytest_subprocess("goals", "--env=staging", *_windows())
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: sprintgate: STAGING_DATABASE_URL *"])
        output = result.stdout.str() + result.stderr.str()
        for fragment in ("pa/ss", "hunter2", "p@ss", "two words"):
            assert fragment not in output


class TestStagingBeforeProduction:
    def _staging(
        self,
        suite: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch,
        server: ThrowawayServer,
        *,
        key: str | None = KEY,
        db: str = "telemetry",
    ) -> None:
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(server, db))
        if key is None:
            monkeypatch.delenv("SPRINTGATE_SIGNING_KEY", raising=False)
        else:
            monkeypatch.setenv("SPRINTGATE_SIGNING_KEY", key)
        expected = 0 if db in {"telemetry", "production"} else EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        assert (
            suite.runpytest_subprocess("goals", "--env=staging", *_windows(), "--change-record", "CHG-7").ret
            == expected
        )

    def _production(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: ThrowawayServer, *args: str
    ) -> pytest.RunResult:
        monkeypatch.setenv("PRODUCTION_DATABASE_URL", _dsn(server, "production"))
        monkeypatch.setenv("SPRINTGATE_SIGNING_KEY", KEY)
        return suite.runpytest_subprocess("goals", "--env=production", *_windows(), "--change-record", "CHG-7", *args)

    def test_signed_passing_staging_evidence_promotes_and_is_named(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Production verifies the staging signature and records the evidence's hash, time and change record."""
        self._staging(suite, monkeypatch, telemetry_server)
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == 0
        staging = _document(suite.path, "production")["staging"]
        assert staging["change_record"] == "CHG-7"
        assert re.fullmatch(r"[0-9a-f]{64}", staging["sha256"])
        result.stdout.fnmatch_lines(["sprintgate: promoting on staging evidence *"])

    @pytest.mark.parametrize(
        ("tamper", "message"),
        [
            (
                lambda d: {
                    **d,
                    "verdict": "pass",
                    "decision": {**d["decision"], "outcome": "promote"},
                    "goals": [{**g, "verdict": "pass"} for g in d["goals"]],
                },
                "the signature of * does not verify*",
            ),
            (
                lambda d: {
                    "env": "staging",
                    "verdict": "pass",
                    "generated_at": d["generated_at"],
                    "goals": [],
                    "flags": d["flags"],
                },
                "*is not a results.json document of this sprintgate*",
            ),
            (None, "*is dated in the future*"),
        ],
        ids=["edited-verdicts", "hand-written", "future"],
    )
    def test_evidence_that_does_not_verify_is_refused(
        self,
        suite: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch,
        telemetry_server: ThrowawayServer,
        tamper: Callable[[dict[str, Any]], dict[str, Any]] | None,
        message: str,
    ) -> None:
        """A staging FAIL edited into a PASS, hand-written or future-dated results: one line, exit 4."""
        self._staging(suite, monkeypatch, telemetry_server, db="regressed" if tamper is not None else "telemetry")
        path = suite.path / "reports" / "staging" / "results.json"
        document = json.loads(path.read_text())
        if tamper is None:
            document["generated_at"] = (datetime.now(UTC) + timedelta(days=1500)).isoformat()
            document["signature"] = sign(document, KEY.encode())
        else:
            document = tamper(document)
        path.write_text(json.dumps(document))
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: sprintgate: --env production promotes and was refused: {message}"])

    def test_unsigned_staging_results_are_refused(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A staging run without the signing key cannot be verified, so it cannot promote."""
        self._staging(suite, monkeypatch, telemetry_server, key=None)
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*are not signed; rerun staging with SPRINTGATE_SIGNING_KEY set*"])

    def test_an_alias_for_production_still_needs_staging(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """What counts as production is whatever is not the staging environment: an alias is refused too."""
        suite.makepyprojecttoml('[tool.sprintgate.environments.prod]\ndsn_env = "PRODUCTION_DATABASE_URL"\n')
        monkeypatch.setenv("PRODUCTION_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        result = suite.runpytest_subprocess("goals", "--env=prod", *_windows())
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: sprintgate: --env prod promotes and was refused: no staging results at *"])

    def test_a_fifo_at_the_staging_path_is_refused_at_once(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A named pipe where the results should be is not read (it would block forever)."""
        fifo = suite.path / "evidence.json"
        os.mkfifo(fifo)
        result = self._production(suite, monkeypatch, telemetry_server, "--staging-results", str(fifo))
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*evidence.json is not a regular file*"])

    def test_force_is_recorded_with_what_it_overrode(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """--force REASON runs production without evidence; every report says so, escaped."""
        result = self._production(suite, monkeypatch, telemetry_server, "--force", "CAB-12 approved\nVerdict: PASS")
        assert result.ret == 0
        forced = _document(suite.path, "production")["forced"]
        assert forced.startswith("CAB-12 approved\nVerdict: PASS (overrode: no staging results at")
        summary = (suite.path / "reports" / "production" / "summary.md").read_text()
        assert "\nVerdict: PASS" not in summary
        assert "CAB-12 approved\\nVerdict: PASS" in summary
        result.stdout.fnmatch_lines(
            ["sprintgate: FORCED without a passing staging run: CAB-12 approved\\nVerdict: PASS*"]
        )

    def test_a_newer_staging_run_replaces_the_evidence(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A staging PASS kept aside is refused once a later staging run (here a FAIL) replaced it."""
        self._staging(suite, monkeypatch, telemetry_server)
        kept = suite.path / "kept-pass.json"
        shutil.copy(suite.path / "reports" / "staging" / "results.json", kept)
        self._staging(suite, monkeypatch, telemetry_server, db="regressed")
        result = self._production(suite, monkeypatch, telemetry_server, "--staging-results", str(kept))
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*refused: a newer staging run (* (fail)) replaced the one in *kept-pass.json*"])

    def test_a_staging_run_that_never_finished_blocks_the_older_pass(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A staging run killed before it wrote its reports stays on record, so the PASS before it is no
        longer the newest staging evidence."""
        self._staging(suite, monkeypatch, telemetry_server)
        history = suite.path / "reports" / "staging" / "history"
        later = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S%fZ")
        (history / f"{later}-running.json").write_text('{"verdict": "running"}')
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*refused: a newer staging run (* (running)) replaced*"])

    def test_staging_on_the_production_database_is_refused(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """Staging evidence read from the database production reads is no staging evidence."""
        self._staging(suite, monkeypatch, telemetry_server, db="production")
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*refused: the staging run in * read the same database as this run*"])

    def test_a_laxer_staging_judgement_is_another_judgement(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, telemetry_server: ThrowawayServer
    ) -> None:
        """A staging PASS at --confidence 0.5 does not stand for production's 0.90."""
        monkeypatch.setenv("STAGING_DATABASE_URL", _dsn(telemetry_server, "telemetry"))
        monkeypatch.setenv("SPRINTGATE_SIGNING_KEY", KEY)
        staged = suite.runpytest_subprocess("goals", "--env=staging", *_windows(), "--confidence", "0.5")
        assert staged.ret == 0
        result = self._production(suite, monkeypatch, telemetry_server)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*judged another suite (its goals, targets, flags or thresholds differ*"])

    @pytest.mark.parametrize(
        ("toml", "message"),
        [
            ('[tool.sprintgate]\nstaging_env = "production"', "*staging_env = 'production' must name an environment*"),
            ('[tool.sprintgate]\nstaging_env = "demo"', "*staging_env = 'demo' must name an environment*"),
            (
                '[tool.sprintgate.environments.staging]\ndsn_env = "PRODUCTION_DATABASE_URL"',
                "*the staging environment 'staging' reads PRODUCTION_DATABASE_URL, as production does*",
            ),
        ],
        ids=["production", "demo", "production-variable"],
    )
    def test_staging_must_be_a_database_of_its_own(self, suite: pytest.Pytester, toml: str, message: str) -> None:
        """No configuration turns production, the demo or production's database into staging evidence."""
        suite.makepyprojecttoml(toml + "\n")
        result = suite.runpytest_subprocess("goals", "--env=production")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
