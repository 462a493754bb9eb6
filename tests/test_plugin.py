"""The pytest plugin as users meet it: outcomes, exit codes, the summary table, reports, usage errors,
and no DSN password in any output or file. Each test runs a real pytest session through pytester."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sprintgate.plugin import EXIT_INCONCLUSIVE
from sprintgate.server import ThrowawayServer
from sprintgate.synthetic import load_scenario

GOALS = Path(__file__).resolve().parent.parent / "goals"
SCALE = ["--demo-scale", "0.1"]
PASSWORD = "Sup3r-s3cret_pw"  # a test secret: it must never be printed
Database = Callable[[str], psycopg.Connection[Any]]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project folder holding a copy of goals/."""
    shutil.copytree(GOALS, pytester.path / "goals")
    return pytester


def _windows(name: str = "rollout_met") -> list[str]:
    scenario = load_scenario(name)
    return ["--baseline", str(scenario.baseline_window), "--post", str(scenario.post_window)]


class TestDemoOutcomes:
    def test_rollout_met_passes_with_exit_zero(self, suite: pytest.Pytester) -> None:
        """Every goal passes, the summary table lists them, and the reports are written."""
        result = suite.runpytest_subprocess("goals", *SCALE)
        result.assert_outcomes(passed=12)
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            [
                "sprintgate: env=demo source=embedded PostgreSQL, scenario rollout_met*",
                "sprintgate: BASELINE 2026-10-01T00:00:00Z/2026-10-08T00:00:00Z POST 2026-10-09T00:00:00Z/2026-10-16T00:00:00Z*",
                "*= sprintgate =*",
                "goal*kind*verdict*baseline*post*delta*interval*n (baseline/post)",
                "planner_p95_reduction*goal*PASS*",
            ]
        )
        document = json.loads((suite.path / "reports" / "demo" / "results.json").read_text())
        assert document["verdict"] == "pass"
        assert {g["id"] for g in document["goals"]} >= {"planner_p95_reduction", "flags_enabled"}
        assert "| Planner p95 (ms) |" in (suite.path / "reports" / "demo" / "summary.md").read_text()
        assert (suite.path / "reports" / "demo" / "metrics.csv").read_text().startswith("metric,window,value,n,unit")

    def test_regression_fails_with_exit_one_and_the_numbers(self, suite: pytest.Pytester) -> None:
        """A breached guardrail is a failed test whose message carries the interval."""
        result = suite.runpytest_subprocess("goals", *SCALE, "--scenario", "rollout_regressed")
        result.assert_outcomes(passed=4, failed=8)
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*job_success_rate: FAIL (target_missed): -2*points (90% CI *"])

    def test_missing_telemetry_shows_inconclusive_outcomes(self, suite: pytest.Pytester) -> None:
        """INCONCLUSIVE is its own outcome in the progress and summary lines, with its reason."""
        result = suite.runpytest_subprocess("goals", *SCALE, "--scenario", "telemetry_missing", "-v")
        assert result.ret == 1  # the telemetry_present precondition fails
        result.stdout.fnmatch_lines(
            [
                "*test_planner_p95_reduction INCONCLUSIVE*",
                "*planner_p95_reduction: INCONCLUSIVE (instrumentation_missing): Instrumentation missing: no auto_assign.quote events in the BASELINE and POST windows*",
                "*1 failed, 8 passed, 3 inconclusive*",
            ]
        )

    def test_flags_off_fails_the_precondition(self, suite: pytest.Pytester) -> None:
        """Flag off vs flag still off: the precondition fails, no goal passes, exit 1."""
        result = suite.runpytest_subprocess("goals", *SCALE, "--scenario", "flags_off")
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*flags_enabled: FAIL (flags_off): Flag off vs flag still off*"])
        document = json.loads((suite.path / "reports" / "demo" / "results.json").read_text())
        assert "pass" not in {g["verdict"] for g in document["goals"] if g["kind"] != "precondition"}

    def test_dirty_telemetry_passes_and_reports_what_it_excluded(self, suite: pytest.Pytester) -> None:
        """Malformed events are excluded and reported; the true effects still pass."""
        result = suite.runpytest_subprocess("goals", *SCALE, "--scenario", "dirty")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["*excluded as malformed: * rows (see *summary.md)*"])
        summary = (suite.path / "reports" / "demo" / "summary.md").read_text()
        assert "| planner_duration | POST | absurd |" in summary

    def test_only_inconclusive_exits_with_the_wait_code(self, suite: pytest.Pytester) -> None:
        """Too-short windows with nothing failed exit with the documented 'wait for more data' code."""
        result = suite.runpytest_subprocess(
            "goals", *SCALE, "--baseline", "2026-10-07/2026-10-08", "--post", "2026-10-09/2026-10-10"
        )
        assert result.ret == EXIT_INCONCLUSIVE
        result.stdout.fnmatch_lines(["*2 passed, 10 inconclusive*"])
        assert json.loads((suite.path / "reports" / "demo" / "results.json").read_text())["verdict"] == "inconclusive"

    def test_a_skipped_goal_is_not_a_pass(self, suite: pytest.Pytester) -> None:
        """A goal test skipped by a marker leaves the run non-zero: what was not judged did not pass."""
        path = suite.path / "goals" / "test_cache_hit_ceiling.py"
        path.write_text(
            path.read_text().replace(
                "def test_cache_hit_ceiling", "import pytest\n\n@pytest.mark.skip\ndef test_cache_hit_ceiling"
            )
        )
        result = suite.runpytest_subprocess("goals", *SCALE)
        result.assert_outcomes(passed=11, skipped=1)
        assert result.ret == 1

    def test_long_queries_show_that_they_are_running(self, suite: pytest.Pytester) -> None:
        """A query running past progress_after_s is announced on the terminal, past output capturing."""
        suite.makepyprojecttoml("[tool.sprintgate]\nprogress_after_s = 0.005\n")
        result = suite.runpytest_subprocess("goals", *SCALE)
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            ["sprintgate: window_evidence [[]2026-10-09 00:00, 2026-10-16 00:00) still running after * s"]
        )

    def test_targets_are_overridable_on_the_command_line(self, suite: pytest.Pytester) -> None:
        """--target moves a goal's threshold; a target for an unknown goal is a usage error."""
        result = suite.runpytest_subprocess("goals", *SCALE, "--target", "cache_hit_ceiling=0.10", "-k", "cache_hit")
        assert result.ret == 1
        result.stdout.fnmatch_lines(["*cache_hit_ceiling: FAIL*wrong side of 10.0 %*"])
        result = suite.runpytest_subprocess("goals", *SCALE, "--target", "cache_hit=0.10")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: sprintgate: target 'cache_hit' names no collected goal*"])


class TestUsageErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--env", "stagin"],
                "ERROR: sprintgate: --env 'stagin' is not a known environment (from the command line); known: demo, staging, production.",
            ),
            (
                ["--env", "staging"],
                "ERROR: sprintgate: STAGING_DATABASE_URL is not set; export it or set dsn_env for [[]tool.sprintgate.environments.staging[]] in pyproject.toml.",
            ),
            (
                ["--baseline", "2026-13-01/2026-13-08"],
                "ERROR: sprintgate: --baseline: '2026-13-01/2026-13-08' is not START/END in ISO 8601*(from the command line).",
            ),
            (
                ["--confidence", "1.5"],
                "ERROR: sprintgate: confidence = 1.5 is outside (0.5, 1) (from the command line).",
            ),
            (
                ["--scenario", "nope"],
                "ERROR: sprintgate: scenario 'nope' is not defined in fixtures/scenarios.toml; known: *",
            ),
        ],
    )
    def test_is_one_line_naming_the_source(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
    ) -> None:
        """A configuration mistake is exit 4 with one line that names the value and where it came from."""
        monkeypatch.delenv("STAGING_DATABASE_URL", raising=False)
        result = suite.runpytest_subprocess("goals", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
        assert "Traceback" not in result.stderr.str()

    def test_unknown_pyproject_key_is_refused(self, suite: pytest.Pytester) -> None:
        """A misspelt key in [tool.sprintgate] is an error, not a silently ignored setting."""
        suite.makepyprojecttoml("[tool.sprintgate]\nconfidnce = 0.95\n")
        result = suite.runpytest_subprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: sprintgate: unknown key 'confidnce' in [[]tool.sprintgate[]]*"])


def _everything_written(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and ".pyc" not in p.name)


class TestStagingSecrets:
    def test_unreachable_server_fails_closed_without_the_password(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A connection failure errors every goal (exit 1) and the password shows up nowhere."""
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"postgresql://gate:{PASSWORD}@127.0.0.1:1/telemetry?connect_timeout=2"
        )
        result = suite.runpytest_subprocess(
            "goals",
            "--env",
            "staging",
            *_windows(),
            "--showlocals",
            "--tb=long",
            "--junitxml=junit.xml",
            f"--alluredir={suite.path / 'allure'}",
        )
        assert result.ret == 1
        result.assert_outcomes(errors=12)
        result.stdout.fnmatch_lines(["*sprintgate: could not connect to postgresql://gate:***@127.0.0.1:1/telemetry*"])
        assert PASSWORD not in result.stdout.str() + result.stderr.str()
        assert PASSWORD not in _everything_written(suite.path)
        assert json.loads((suite.path / "reports" / "staging" / "results.json").read_text())["verdict"] == "error"

    def test_a_missing_table_is_an_error_naming_the_contract(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: ThrowawayServer
    ) -> None:
        """A database without observability_events errors every goal (exit 1) with the contract named."""
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"postgresql://postgres:{PASSWORD}@{pg_server.host}:{pg_server.port}/postgres"
        )
        result = suite.runpytest_subprocess("goals", "--env", "staging", *_windows())
        assert result.ret == 1
        result.assert_outcomes(errors=12)
        result.stdout.fnmatch_lines(["*the telemetry table does not match the contract*docs/telemetry.md*"])
        assert PASSWORD not in result.stdout.str()

    def test_staging_run_reads_a_real_database(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_server: ThrowawayServer, database: Database
    ) -> None:
        """--env staging judges the database in STAGING_DATABASE_URL; its password is in no output or file."""
        dbname = database("rollout_regressed").info.dbname
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"postgresql://postgres:{PASSWORD}@{pg_server.host}:{pg_server.port}/{dbname}"
        )
        result = suite.runpytest_subprocess(
            "goals",
            "--env",
            "staging",
            *_windows("rollout_regressed"),
            "--showlocals",
            "--junitxml=junit.xml",
            f"--alluredir={suite.path / 'allure'}",
        )
        assert result.ret == 1
        result.assert_outcomes(passed=4, failed=8)
        result.stdout.fnmatch_lines(
            [f"sprintgate: env=staging source=postgresql://postgres:***@127.0.0.1:{pg_server.port}/{dbname}"]
        )
        assert PASSWORD not in result.stdout.str() + result.stderr.str()
        assert PASSWORD not in _everything_written(suite.path)
        assert list((suite.path / "allure").glob("*-result.json"))
