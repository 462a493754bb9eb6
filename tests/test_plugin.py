"""The pytest plugin as users meet it: the headline, outcomes, exit codes, the report set, and every run
that must not promote (a subset, a parallel or interrupted run, a failed report write). Each test runs a
real pytest session through pytester on a copy of goals/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sprintgate.decision import EXIT_CODES, EXIT_REPORT_FAILED, Outcome
from tests.suite import footprint, windows

Database = Callable[[str], psycopg.Connection[Any]]

GOALS = Path(__file__).resolve().parent.parent / "goals"
SCALE = ["--demo-scale", "0.25"]
PASSWORD = "Sup3r-s3cret_pw"  # a test secret: it must never be printed


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project folder holding a copy of goals/ (its conftest opts into the plugin). The repository's
    own goals package is hidden from this process while the test runs, so an in-process run imports
    the copy."""
    shutil.copytree(GOALS, pytester.path / "goals", ignore=shutil.ignore_patterns("__pycache__"))
    for name in [m for m in sys.modules if m == "goals" or m.startswith("goals.")]:
        monkeypatch.delitem(sys.modules, name)
    return pytester


@pytest.fixture
def staged(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, database: Database
) -> Callable[..., pytest.RunResult]:
    """Runs the gate as --env staging on a fresh copy of a scenario's fixture database (the demo's
    server start and load, paid once per session instead of once per run)."""

    def run(scenario: str, *args: str, path: str = "goals", subprocess: bool = True) -> pytest.RunResult:
        info = database(scenario).info
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"
        )
        found = windows(scenario)
        argv = [path, "--env", "staging", "--baseline", found["baseline"], "--post", found["post"], *args]
        return suite.runpytest_subprocess(*argv) if subprocess else suite.runpytest_inprocess(*argv)

    return run


def _results(root: Path, env: str = "staging") -> dict[str, Any]:
    document = json.loads((root / "reports" / env / "results.json").read_text())
    assert isinstance(document, dict)
    return document


class TestDecisions:
    def test_rollout_met_promotes_with_exit_zero(self, suite: pytest.Pytester) -> None:
        """Every check passes: the headline says PROMOTE first, the reports are one readable set, and the
        demo (its server, load and plots) leaves accounts, /var/tmp and the home directory as they were."""
        before = footprint()
        result = suite.runpytest_subprocess("goals", *SCALE)
        assert footprint() == before
        assert not {".cache", ".config", ".local"} & {p.name for p in suite.path.iterdir()}  # pytester's HOME
        result.assert_outcomes(passed=13)
        assert result.ret == 0
        result.stdout.fnmatch_lines(
            [
                "sprintgate: Auto-assign: retry policy v2 + planner cache: env=demo source=demo scenario rollout_met*",
                "*= sprintgate =*",
                "PROMOTE: 5 goals and 3 guardrails passed and every precondition holds (13 of 13 checks judged)",
                "next: promote the flags in the change window (exit 0: promote)",
                "check*kind*verdict*estimate*interval*target*baseline*post*",
                "planner_p95_reduction*goal*PASS*x0.*x0.700*ms*ms*",
            ]
        )
        directory = suite.path / "reports" / "demo"
        document = _results(suite.path, "demo")
        assert document["verdict"] == "pass"
        assert document["decision"]["outcome"] == "promote"
        assert document["checks"] == {"judged": 13, "total": 13, "not_judged": []}
        assert (directory / "summary.md").read_text().startswith("# sprintgate: Auto-assign")
        assert "**PROMOTE: " in (directory / "summary.md").read_text()
        assert (directory / "metrics.csv").read_text().startswith("metric,unit,window,value,n,shown")
        assert {p.name for p in (directory / "plots").iterdir()} >= {"overview.png", "planner_p95_reduction.png"}
        for path in (directory / "results.json", directory / "plots" / "overview.png"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert len(list((directory / "history").glob("*.json"))) == 1

    def test_regression_does_not_promote_and_names_the_rollback(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]
    ) -> None:
        """Missed goals and breached guardrails: exit 1, the rollback the suite declares."""
        result = staged("rollout_regressed")
        result.assert_outcomes(passed=5, failed=8)
        assert result.ret == EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        result.stdout.fnmatch_lines(
            [
                "DO NOT PROMOTE: 5 goals missed (*); 3 guardrails breached (*)",
                "next: roll back: set FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false*",
            ]
        )

    def test_missing_telemetry_shows_inconclusive_as_its_own_outcome(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]
    ) -> None:
        """INCONCLUSIVE is I in the progress line and its own count; the precondition is the one cause."""
        result = staged("telemetry_missing", "-v")
        assert result.ret == EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        result.stdout.fnmatch_lines(
            [
                "*test_planner_p95_reduction INCONCLUSIVE*",
                "DO NOT PROMOTE: events the goals need are missing (telemetry_present); it blocks 3 goals: *",
                "*1 failed, 9 passed, 3 inconclusive*",
            ]
        )

    def test_flags_off_is_said_once(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """Flag off vs flag still off is the one root cause, named once in the headline with what it blocks."""
        result = staged("flags_off")
        assert result.ret == EXIT_CODES[Outcome.DO_NOT_PROMOTE]
        headline = [line for line in result.stdout.lines if line.startswith("DO NOT PROMOTE")]
        assert headline == [headline[0]]
        assert headline[0].startswith("DO NOT PROMOTE: the flags are not on in POST (flags_enabled); it blocks 8 goals")
        assert sum("not on in POST" in line for line in result.stdout.lines) == 1
        assert _results(suite.path)["decision"]["blocked_by"] == "flags_enabled"

    def test_too_short_windows_wait(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """Too-short windows with nothing failed exit with the documented "wait for more data" code."""
        result = staged("rollout_met", "--baseline", "2026-10-07/2026-10-08", "--post", "2026-10-09/2026-10-10")
        assert result.ret == EXIT_CODES[Outcome.WAIT]
        assert _results(suite.path)["verdict"] == "inconclusive"

    def test_advisory_goals_do_not_block(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """An advisory goal is judged and reported; its FAIL leaves the promotion to the others."""
        path = suite.path / "goals" / "test_cache_hit_ceiling.py"
        path.write_text(path.read_text().replace('below="30%"))', 'below="5%"), advisory=True)'))
        result = staged("rollout_met")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["PROMOTE: *(1 advisory goal did not pass; advisory goals do not block)"])
        goal = next(g for g in _results(suite.path)["goals"] if g["id"] == "cache_hit_ceiling")
        assert (goal["verdict"], goal["advisory"]) == ("fail", True)


class TestRunsThatMustNotPromote:
    @pytest.mark.parametrize(
        "selection",
        [
            ["-k", "planner_p95_reduction"],
            ["goals/test_planner_p95_reduction.py"],
            ["--deselect", "goals/test_quote_error_rate.py::test_quote_error_rate"],
            ["-m", "not slow"],
        ],
        ids=["keyword", "one-file", "deselect", "marker"],
    )
    def test_a_subset_never_exits_zero(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult], selection: list[str]
    ) -> None:
        """A run that judges part of the suite reports N of M, says incomplete, and exits 64."""
        suite.makeini("[pytest]\nmarkers = slow\n")
        (suite.path / "goals" / "test_quote_error_rate.py").write_text(
            (suite.path / "goals" / "test_quote_error_rate.py")
            .read_text()
            .replace("def test_", "import pytest\n\n\n@pytest.mark.slow\ndef test_")
        )
        if selection[0].startswith("goals/"):
            result = staged("rollout_met", path=selection[0])
        else:
            result = staged("rollout_met", *selection)
        assert result.ret == EXIT_CODES[Outcome.INCOMPLETE]
        document = _results(suite.path)
        assert document["verdict"] == "incomplete"
        checks = document["checks"]
        assert checks["total"] == 13
        assert checks["judged"] < 13
        result.stdout.fnmatch_lines(["INCOMPLETE: * of 13 checks judged*"])
        assert "PASS" not in (suite.path / "reports" / "summary.md").read_text().split("\n")[2]

    def test_parallel_runs_are_refused(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """pytest-xdist would judge in several processes: one line, exit 4, nothing run."""
        pytest.importorskip("xdist")
        result = staged("rollout_met", "-n", "2")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: sprintgate: the gate fetches the evidence once*without -n*"])

    def test_an_interrupted_run_never_says_pass(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]
    ) -> None:
        """Ctrl-C after two goals: pytest's exit 2, and every report says incomplete."""
        (suite.path / "conftest.py").write_text(
            "count = 0\n"
            "def pytest_runtest_logreport(report):\n"
            "    global count\n"
            "    if report.when == 'call':\n"
            "        count += 1\n"
            "        if count == 2:\n"
            "            raise KeyboardInterrupt\n"
        )
        result = staged("rollout_met")
        assert result.ret == pytest.ExitCode.INTERRUPTED
        document = _results(suite.path)
        assert document["verdict"] == "incomplete"
        assert "PROMOTE" not in (suite.path / "reports" / "staging" / "summary.md").read_text().splitlines()[2]

    def test_a_failed_report_write_is_one_line_and_keeps_the_old_set(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]
    ) -> None:
        """Reports that cannot be written: exit 73, one line, no traceback, the previous set unchanged."""
        assert staged("rollout_met").ret == 0
        before = (suite.path / "reports" / "staging" / "results.json").read_bytes()
        (suite.path / "blocked").write_text("a file where the reports directory should be")
        result = staged("rollout_regressed", "--reports-dir", "blocked/reports")
        assert result.ret == EXIT_REPORT_FAILED
        result.stdout.fnmatch_lines(
            ["sprintgate: cannot create the reports directory under *blocked* (*).", "exit 73: *"]
        )
        assert "Traceback" not in result.stdout.str() + result.stderr.str()
        assert (suite.path / "reports" / "staging" / "results.json").read_bytes() == before

    def test_a_fault_replaces_the_last_pass_whole(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After a fault run no file of the environment still says PASS, and stale plots are gone."""
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"postgresql://gate:{PASSWORD}@127.0.0.1:1/telemetry?connect_timeout=2"
        )
        staging = suite.path / "reports" / "staging"
        staging.mkdir(parents=True)
        (staging / "summary.md").write_text("**PROMOTE: an old run**\n")
        (staging / "plots").mkdir()
        (staging / "plots" / "planner_p95_reduction.png").write_bytes(b"old")
        result = suite.runpytest_subprocess(
            "goals", "--env", "staging", "--baseline", "2026-10-01/2026-10-08", "--post", "2026-10-09/2026-10-16"
        )
        assert result.ret == EXIT_CODES[Outcome.COULD_NOT_MEASURE]
        assert "PROMOTE" not in (staging / "summary.md").read_text()
        assert not (staging / "plots" / "planner_p95_reduction.png").exists()
        lines = [line for line in result.stdout.lines if "could not connect" in line]
        assert len(lines) == 2  # the run's one line, and the headline
        assert PASSWORD not in result.stdout.str() + result.stderr.str()


class TestHistory:
    def test_each_run_is_kept_and_listed(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """Two runs: two documents in history/, and the summary lists the earlier one."""
        assert staged("rollout_regressed").ret == 1
        assert staged("rollout_met").ret == 0
        directory = suite.path / "reports" / "staging"
        assert len(list((directory / "history").glob("*.json"))) == 2
        summary = (directory / "summary.md").read_text()
        assert "## Earlier runs of this environment" in summary
        assert "| do not promote | 13 of 13 |" in summary


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
                ["--baseline", "0001-01-01/0001-01-08"],
                "ERROR: sprintgate: --baseline: 0001-01-01T00:00:00Z is outside 1970*",
            ),
            (
                ["--confidence", "1.5"],
                "ERROR: sprintgate: confidence = 1.5 is outside [[]0.5, 0.999[]] (from the command line).",
            ),
            (
                ["--scenario", "nope"],
                "ERROR: sprintgate: scenario 'nope' is not one of the suite's demo scenarios; known: rollout_met*",
            ),
            (["--target", "cache_hit=30%"], "ERROR: sprintgate: target 'cache_hit' names no goal of the suite*"),
            (
                ["--target", "cache_hit_ceiling=0.3"],
                "ERROR: sprintgate: --target cache_hit_ceiling=0.3: *'0.3' has no unit; this target is in % (write it like '30.0%').",
            ),
            (
                ["--target", "planner_p95_reduction=70%"],
                "ERROR: sprintgate: --target planner_p95_reduction=70%: *'70%' is in '%', but this target is in x*",
            ),
        ],
    )
    def test_is_one_line_naming_the_source(
        self, suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
    ) -> None:
        """A configuration mistake is exit 4 with one line that names the value and where it came from."""
        monkeypatch.delenv("STAGING_DATABASE_URL", raising=False)
        result = suite.runpytest_inprocess("goals", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
        assert "Traceback" not in result.stderr.str()

    @pytest.mark.parametrize(
        ("toml", "message"),
        [
            ("confidnce = 0.95", "ERROR: sprintgate: unknown key 'confidnce' in [[]tool.sprintgate[]]*"),
            ("reports_dir = 5", "ERROR: sprintgate: reports_dir = 5 must be a string*"),
            (
                "statement_timeout_s = 0.0004",
                "ERROR: sprintgate: statement_timeout_s = 0.0004 is outside [[]1, 86400[]]*",
            ),
            (
                '[tool.sprintgate.environments."../../x"]\ndsn_env = "X"',
                "ERROR: sprintgate: environment name '../../x' must be lowercase letters*",
            ),
        ],
    )
    def test_pyproject_mistakes_are_refused(self, suite: pytest.Pytester, toml: str, message: str) -> None:
        """A misspelt key, a wrong type, a timeout that rounds to none, a path in an env name: one line each."""
        suite.makepyprojecttoml(f"[tool.sprintgate]\n{toml}\n")
        result = suite.runpytest_inprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])

    def test_a_misspelt_measure_is_one_line_before_any_database_work(self, suite: pytest.Pytester) -> None:
        """A goal importing a measure that does not exist: one line naming the file and the declared ones."""
        path = suite.path / "goals" / "test_planner_p95_reduction.py"
        path.write_text(
            path.read_text()
            .replace("import PLANNER_DURATION", "import PLANNER_DURATON")
            .replace("(PLANNER_DURATION,", "(PLANNER_DURATON,")
        )
        result = suite.runpytest_inprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            [
                "ERROR: sprintgate: goals/test_planner_p95_reduction.py does not load: ImportError: cannot import name 'PLANNER_DURATON'*; goals.rollout declares: *PLANNER_DURATION*"
            ]
        )
        assert "loading demo" not in result.stdout.str()

    def test_two_goals_with_one_id_are_refused(self, suite: pytest.Pytester) -> None:
        """Two modules declaring the same goal id: one line naming both files."""
        source = (suite.path / "goals" / "test_planner_p95_reduction.py").read_text()
        (suite.path / "goals" / "test_planner_copy.py").write_text(
            source.replace("def test_planner_p95_reduction", "def test_planner_copy")
        )
        result = suite.runpytest_inprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            [
                "ERROR: sprintgate: test_planner_*.py and test_planner_*.py both declare the check 'planner_p95_reduction'*"
            ]
        )


class TestOneNewGoal:
    def test_planner_p99_is_one_new_file(self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult]) -> None:
        """A new goal on an existing measure is one file in goals/: judged, counted, titled from its target."""
        (suite.path / "goals" / "test_planner_p99_budget.py").write_text(
            '"""Planner p99 within 5 s."""\n\n'
            "from sprintgate import Gate, Goal, QuantileBudget\n\n"
            "from goals.rollout import PLANNER_DURATION\n\n"
            'GOAL = Goal(id="planner_p99_budget", metric=QuantileBudget(PLANNER_DURATION, q=0.99, below=5000))\n\n\n'
            "def test_planner_p99_budget(gate: Gate) -> None:\n"
            "    gate.check(GOAL)\n"
        )
        result = staged("rollout_met")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["PROMOTE: 6 goals and 3 guardrails passed*(14 of 14 checks judged)"])
        goal = next(g for g in _results(suite.path)["goals"] if g["id"] == "planner_p99_budget")
        assert goal["title"] == "p99 planner duration under 5,000 ms"


def test_environment_is_untouched(suite: pytest.Pytester) -> None:
    """The plugin reads the environment; it never changes it."""
    before = dict(os.environ)
    suite.runpytest_inprocess("goals", "--collect-only", "-q")
    assert dict(os.environ) == before


class TestRunsThatJudgeNothingOrPart:
    """Every way found to make a run promote without judging the whole suite, each refused."""

    @pytest.mark.parametrize(
        "selection",
        [["goals/test_job_success_rate.py"], ["goals", "--ignore=goals/planner_p95_reduction_test.py"]],
        ids=["one-file", "ignored"],
    )
    def test_goal_modules_named_the_other_pytest_way_count(
        self, suite: pytest.Pytester, staged: Callable[..., pytest.RunResult], selection: list[str]
    ) -> None:
        """pytest collects *_test.py as well as test_*.py: leaving such a goal module out is a subset."""
        goals = suite.path / "goals"
        (goals / "test_planner_p95_reduction.py").rename(goals / "planner_p95_reduction_test.py")
        result = staged("rollout_met", *selection[1:], path=selection[0])
        assert result.ret == EXIT_CODES[Outcome.INCOMPLETE]
        result.stdout.fnmatch_lines(["INCOMPLETE: * of 13 checks judged*"])

    @pytest.mark.parametrize("name", ["test_planner_p95_reduction.py", "planner_p95_reduction_test.py"])
    def test_a_goal_module_that_skips_itself_is_refused(self, suite: pytest.Pytester, name: str) -> None:
        """A module-level skip (or importorskip) would hide a goal: one line, exit 4, before any query."""
        path = suite.path / "goals" / "test_planner_p95_reduction.py"
        text = path.read_text()
        path.unlink()
        (suite.path / "goals" / name).write_text(
            f'import pytest\n\npytest.skip("later", allow_module_level=True)\n{text}'
        )
        result = suite.runpytest_inprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: sprintgate: {name} skips itself at import (later)*"])
        assert "Traceback" not in result.stdout.str() + result.stderr.str()

    def test_a_goal_named_like_a_precondition_is_refused(self, suite: pytest.Pytester) -> None:
        """A goal whose id is a built-in precondition's would be overwritten by it: one line, exit 4."""
        path = suite.path / "goals" / "test_planner_p95_reduction.py"
        path.write_text(path.read_text().replace('id="planner_p95_reduction"', 'id="telemetry_understood"'))
        result = suite.runpytest_inprocess("goals")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*'telemetry_understood', the name of a built-in precondition*"])

    def test_listing_is_not_judging(self, suite: pytest.Pytester) -> None:
        """--collect-only exits 64 and leaves no report; --fixtures is refused (pytest would exit 0)."""
        listed = suite.runpytest_inprocess("goals", "--collect-only", "-q")
        assert listed.ret == EXIT_CODES[Outcome.INCOMPLETE]
        listed.stdout.fnmatch_lines(["sprintgate: --collect-only judges nothing (exit 64*"])
        assert not list((suite.path / "reports").rglob("*.json"))
        fixtures = suite.runpytest_inprocess("goals", "--fixtures")
        assert fixtures.ret == pytest.ExitCode.USAGE_ERROR

    def test_an_interrupt_while_the_reports_are_written_leaves_no_pass(self, suite: pytest.Pytester) -> None:
        """Ctrl-C or SIGTERM while the plots are drawn, after every check passed: exit 2, and the
        reports written say incomplete, not the PASS the run was about to write."""
        conftest = suite.path / "goals" / "conftest.py"
        conftest.write_text(
            conftest.read_text()
            + textwrap.dedent(
                """
                from sprintgate.run import Run

                _overview = Run.overview
                _calls = []


                def _interrupted_once(self, *args, **kwargs):
                    _calls.append(1)
                    if len(_calls) == 1:
                        raise KeyboardInterrupt("signal 15")
                    return _overview(self, *args, **kwargs)


                Run.overview = _interrupted_once
                """
            )
        )
        result = suite.runpytest_subprocess("goals", *SCALE)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        document = _results(suite.path, "demo")
        assert document["verdict"] == "incomplete"
        assert "PROMOTE" not in (suite.path / "reports" / "demo" / "summary.md").read_text()

    def test_a_cancelled_job_ends_like_ctrl_c(self, suite: pytest.Pytester) -> None:
        """SIGTERM (a cancelled CI job) mid-run after a passing one: pytest's exit 2 and every report
        says incomplete (the server's own cleanup on interruption: tests/test_server.py)."""
        assert suite.runpytest_subprocess("goals", *SCALE).ret == 0
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "goals", *SCALE, "-p", "no:cacheprovider"],
            cwd=suite.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("sprintgate: confidence="):  # the header: collection is over, the run begins
                break
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-2000:]
        document = _results(suite.path, "demo")
        assert document["verdict"] == "incomplete"
        assert "PROMOTE" not in (suite.path / "reports" / "demo" / "summary.md").read_text().splitlines()[2]
