"""The pytest plugin: command-line options, the ``gate`` fixture, INCONCLUSIVE as its own outcome,
exit codes a CI job can branch on, the report header and summary table, and the reports.

This is the only module that imports pytest or reads options, ini values and the environment.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sprintgate.allure_results import describe, write_run_files
from sprintgate.config import ConfigError, Settings, read_pyproject, resolve
from sprintgate.database import DatabaseError, scrub
from sprintgate.gate import Gate, GateError, GoalInconclusive, GoalNotMet, RunInfo, Telemetry, versions
from sprintgate.goals import Goal
from sprintgate.progress import QueryWatch
from sprintgate.promotion import staging_blocker
from sprintgate.report import combined_summary, overall_verdict, write_atomically, write_reports
from sprintgate.results import GoalResult, Kind
from sprintgate.server import ServerError
from sprintgate.verdict import Verdict

#: Exit code when nothing failed or errored but some goal is INCONCLUSIVE: wait for more data
#: (EX_TEMPFAIL in sysexits.h, "try again later").
EXIT_INCONCLUSIVE = 75
_FAULTS = (DatabaseError, ServerError, ConfigError, GateError)


@dataclass
class _State:
    settings: Settings
    root: Path
    goals: dict[str, Goal] = field(default_factory=dict)
    goal_items: set[str] = field(default_factory=set)
    telemetry: Telemetry | None = None
    info: RunInfo | None = None
    gate: _PytestGate | None = None
    fault: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    report_paths: list[Path] = field(default_factory=list)
    watch: QueryWatch | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        return () if self.telemetry is None else self.telemetry.secrets

    def open(self) -> Gate:
        if self.gate is not None:
            return self.gate
        if self.fault is not None:
            raise DatabaseError(self.fault)
        assert self.telemetry is not None
        assert self.info is not None
        # matplotlib takes ~0.5 s to import; the plots need it after the queries, which mostly wait.
        threading.Thread(target=importlib.import_module, args=("sprintgate.plots",), daemon=True).start()
        try:
            evidence = self.telemetry.fetch(self.watch)
        except _FAULTS as error:
            self.fault = scrub(str(error), self.secrets)
            raise
        info = replace(
            self.info,
            baseline=evidence.baseline.window,
            post=evidence.post.window,
            notes=(*self.info.notes, *self.telemetry.notes),
        )
        self.info = info
        self.gate = _PytestGate(evidence=evidence, settings=self.settings, goals=self.goals, info=info)
        self.gate.plots = {}
        return self.gate


STATE = pytest.StashKey[_State]()


class _PytestGate(Gate):
    """The engine's gate, drawing each goal's plot and telling Allure what each test judges."""

    plots: dict[str, bytes]

    def _plot(self, goal: Goal, result: GoalResult) -> None:
        from sprintgate.plots import goal_plot, overview_plot  # noqa: PLC0415 - matplotlib only when plotting

        if goal.id not in self.plots:
            self.plots[goal.id] = goal_plot(goal, result, self.evidence)
        if "overview" not in self.plots:
            self.plots["overview"] = overview_plot(self.all_results())

    def check(self, goal: Goal) -> GoalResult:
        result = self.result(goal)
        self._plot(goal, result)
        describe(self.info, self.evidence, self.checks, result, goal.text, self.plots)
        return super().check(goal)

    def check_precondition(self, name: str) -> GoalResult:
        result = self.precondition(name)
        describe(self.info, self.evidence, self.checks, result, result.reason, self.plots)
        return super().check_precondition(name)


_OPTIONS = (
    "env",
    "scenario",
    "baseline",
    "post",
    "flip",
    "confidence",
    "targets",
    "demo_scale",
    "reports_dir",
    "staging_results",
    "force",
    "change_record",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sprintgate", "sprintgate release gate")
    group.addoption(
        "--env",
        dest="sprintgate_env",
        metavar="NAME",
        help="environment to judge: demo (embedded, the default), staging, production, or one from "
        "[tool.sprintgate.environments].",
    )
    group.addoption(
        "--scenario",
        dest="sprintgate_scenario",
        metavar="NAME",
        help="fixture scenario the demo environment loads (default rollout_met).",
    )
    group.addoption(
        "--baseline", dest="sprintgate_baseline", metavar="START/END", help="BASELINE window, ISO 8601, UTC, half-open."
    )
    group.addoption(
        "--post", dest="sprintgate_post", metavar="START/END", help="POST window, ISO 8601, UTC, half-open."
    )
    group.addoption(
        "--flip",
        dest="sprintgate_flip",
        metavar="TIME|auto",
        help="the flag flip: BASELINE is the window before it, POST the window after the warm-up; "
        "auto finds it from the first events with both flags on.",
    )
    group.addoption(
        "--staging-results",
        dest="sprintgate_staging_results",
        metavar="PATH",
        help="the staging results.json a production run requires (default reports/staging/results.json).",
    )
    group.addoption(
        "--force",
        dest="sprintgate_force",
        metavar="REASON",
        help="run production without a passing staging run; the reason is recorded in every report.",
    )
    group.addoption(
        "--change-record",
        dest="sprintgate_change_record",
        metavar="ID",
        help="the change record this run belongs to (in the reports and as an Allure link).",
    )
    group.addoption(
        "--confidence",
        dest="sprintgate_confidence",
        type=float,
        metavar="LEVEL",
        help="two-sided confidence level of every interval (default 0.90).",
    )
    group.addoption(
        "--target",
        dest="sprintgate_targets",
        action="append",
        metavar="GOAL=VALUE",
        help="override a goal's target or margin; repeatable.",
    )
    group.addoption(
        "--demo-scale",
        dest="sprintgate_demo_scale",
        type=float,
        metavar="FACTOR",
        help="event volume of the demo scenario relative to its definition (default 1).",
    )
    group.addoption(
        "--reports-dir",
        dest="sprintgate_reports_dir",
        metavar="DIR",
        help="where reports/<env>/ is written (default: reports under the rootdir).",
    )


def pytest_configure(config: pytest.Config) -> None:
    options = {key: config.getoption(f"sprintgate_{key}") for key in _OPTIONS}
    pyproject = config.rootpath / "pyproject.toml"
    try:
        settings = resolve(read_pyproject(pyproject), options, source=str(pyproject))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[STATE] = _State(settings=settings, root=config.rootpath, watch=_terminal_watch(config, settings))


def _terminal_watch(config: pytest.Config, settings: Settings) -> QueryWatch:
    """Prints on the terminal, past output capturing, while an evidence query runs long."""

    def report(message: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        writer = config.get_terminal_writer()
        if capture is None:
            writer.line(message, yellow=True)
            return
        with capture.global_and_fixture_disabled():
            writer.line(message, yellow=True)

    return QueryWatch(report, after_s=settings.progress_after_s)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Learn every goal collected (before -k or -m deselect any), then set up the run once."""
    state = config.stash[STATE]
    for item in items:
        if "gate" not in getattr(item, "fixturenames", ()):
            continue
        state.goal_items.add(item.nodeid)
        goal = getattr(getattr(item, "module", None), "GOAL", None)
        if isinstance(goal, Goal):
            state.goals[goal.id] = goal
    if not state.goal_items:
        return
    unknown = sorted(set(state.settings.targets) - set(state.goals))
    if unknown:
        raise pytest.UsageError(
            f"sprintgate: target {unknown[0]!r} names no collected goal (from --target or [tool.sprintgate.targets]); known: {', '.join(sorted(state.goals))}."
        )
    settings = state.settings
    try:
        state.telemetry = Telemetry(settings)
        baseline, post = state.telemetry.planned_windows()
    except (ConfigError, KeyError) as error:
        raise pytest.UsageError(str(error).strip("'\"")) from None
    forced = _promotion(state)
    url = None
    if settings.change_record and settings.change_record_url:
        url = settings.change_record_url.replace("{id}", settings.change_record)
    state.info = RunInfo(
        env=settings.env.name,
        source=state.telemetry.source(),
        baseline=baseline,
        post=post,
        confidence=settings.judging.confidence,
        seed=settings.judging.seed,
        versions=versions(state.root),
        flip=state.telemetry.flip_label(),
        change_record=settings.change_record,
        change_record_url=url,
        forced=forced,
    )


def _promotion(state: _State) -> str | None:
    """Production runs only after a passing staging run (or with --force REASON, which is recorded)."""
    settings = state.settings
    if settings.force is not None and not settings.force.strip():
        raise pytest.UsageError(
            "sprintgate: --force needs a reason, e.g. --force 'staging DB down, approved by CAB-123'."
        )
    if settings.env.name != "production":
        return None
    path = settings.staging_results or state.root / settings.reports_dir / "staging" / "results.json"
    targets = {goal_id: settings.targets.get(goal_id, goal.target) for goal_id, goal in state.goals.items()}
    blocker = staging_blocker(path, targets, max_age_hours=settings.staging_max_age_hours, now=datetime.now(UTC))
    if blocker is None:
        return None
    if settings.force is None:
        raise pytest.UsageError(
            f"sprintgate: --env production refused: {blocker}; a production run needs a passing staging run of the "
            "same goals and flags (override with --force 'REASON', which is recorded in the reports)."
        )
    return f"{settings.force} (overrode: {blocker})"


def pytest_report_collectionfinish(config: pytest.Config, start_path: Path, items: Sequence[pytest.Item]) -> list[str]:
    info = config.stash[STATE].info
    return [] if info is None else info.lines()


@pytest.fixture(scope="session")
def gate(request: pytest.FixtureRequest) -> Gate:
    """The gate of this run: the evidence of both windows, fetched once, and the goals to judge."""
    return request.config.stash[STATE].open()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[STATE]
    excinfo = call.excinfo
    if excinfo is not None:
        if isinstance(excinfo.value, GoalInconclusive):
            report.outcome = "skipped"
            report.longrepr = (
                str(item.path),
                (item.location[1] or 0) + 1,
                f"INCONCLUSIVE: {excinfo.value.result.reason}",
            )
        elif excinfo.errisinstance(GoalNotMet) or excinfo.errisinstance(_FAULTS):
            report.longrepr = str(excinfo.value)
    if state.secrets:
        _scrub_report(report, state.secrets)
    if item.nodeid in state.goal_items and (report.when == "call" or report.outcome != "passed"):
        state.outcomes[item.nodeid] = _outcome(report, excinfo)
    return report


def _outcome(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    if excinfo is not None and excinfo.errisinstance(GoalInconclusive):
        return "inconclusive"
    if report.when != "call" and report.failed:
        return "error"
    return report.outcome


def _scrub_report(report: pytest.TestReport, secrets: tuple[str, ...]) -> None:
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        cleaned = scrub(text, secrets)
        if cleaned != text:
            report.longrepr = cleaned
    elif isinstance(report.longrepr, tuple):
        path, line, reason = report.longrepr
        report.longrepr = (path, line, scrub(reason, secrets))
    report.sections = [(title, scrub(body, secrets)) for title, body in report.sections]


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.skipped and isinstance(report.longrepr, tuple) and str(report.longrepr[2]).startswith("INCONCLUSIVE: "):
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[STATE]
    if not state.outcomes:
        return
    alluredir = getattr(session.config.option, "allure_report_dir", None)
    if alluredir and state.info is not None:
        write_run_files(
            Path(alluredir),
            state.info,
            None if state.gate is None else state.gate.evidence,
            os.environ,
            scrub=state.secrets,
        )
    counts = Counter(state.outcomes.values())
    results = [] if state.gate is None else list(state.gate.results.values())
    # A goal test that errored, was skipped, or failed without a FAIL verdict (a bug, not a
    # measurement) leaves the run without a trustworthy verdict.
    fails = sum(r.verdict is Verdict.FAIL for r in results)
    unjudged = counts["error"] + counts["skipped"] + max(0, counts["failed"] - fails)
    _write_reports(state, results, overall_verdict(results, unjudged))
    if session.exitstatus == pytest.ExitCode.OK:
        if counts["skipped"]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a goal that was not judged did not pass
        elif counts["inconclusive"]:
            session.exitstatus = EXIT_INCONCLUSIVE


def _write_reports(state: _State, results: list[GoalResult], verdict: str) -> None:
    assert state.info is not None
    directory = state.root / state.settings.reports_dir / state.settings.env.name
    if state.gate is None:
        document: dict[str, object] = {
            "env": state.info.env,
            "generated_at": state.info.generated_at.isoformat(),
            "source": state.info.source,
            "verdict": "error",
            "error": state.fault or "the gate did not run",
            "change_record": state.info.change_record,
            "forced": state.info.forced,
            "goals": [],
        }
        text = scrub(json.dumps(document, indent=2) + "\n", state.secrets)
        write_atomically(directory / "results.json", text)
        write_atomically(
            directory / "summary.md", f"# sprintgate: {state.info.env}\n\n- Verdict: **ERROR**\n- {document['error']}\n"
        )
        write_atomically(directory / "metrics.csv", "metric,window,value,n,unit\n")
        state.report_paths = [directory / n for n in ("results.json", "summary.md", "metrics.csv")]
        return
    paths = write_reports(
        directory, state.info, state.gate.evidence, results, verdict, scrub=lambda text: scrub(text, state.secrets)
    )
    state.report_paths = list(paths.values())
    plots = {goal: png for goal, png in state.gate.plots.items() if goal in state.gate.results}
    if set(state.gate.goals) | set(state.gate.checks) <= set(state.gate.results) and "overview" in state.gate.plots:
        plots["overview"] = state.gate.plots["overview"]  # drawn from the same results during the run
    elif results:
        from sprintgate.plots import overview_plot  # noqa: PLC0415 - matplotlib only when plotting

        plots["overview"] = overview_plot(results)
    for name, png in sorted(plots.items()):
        write_atomically(directory / "plots" / f"{name}.png", png)
    if plots:
        state.report_paths.append(directory / "plots")
    combined = combined_summary(state.root / state.settings.reports_dir)
    if combined is not None:
        write_atomically(state.root / state.settings.reports_dir / "summary.md", scrub(combined, state.secrets))
        state.report_paths.append(state.root / state.settings.reports_dir / "summary.md")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[STATE]
    if not state.outcomes:
        return
    tr = terminalreporter
    tr.section("sprintgate")
    if state.gate is None:
        tr.line(f"no verdict: {state.fault or 'the gate did not run'}", red=True)
    else:
        for note in state.gate.info.notes:
            tr.line(note, yellow=True)
        rows = _table(state.gate)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for index, row in enumerate(rows):
            tr.line("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), bold=index == 0)
        for result in state.gate.results.values():
            if result.reason_code is not None:
                tr.line(f"{result.goal}: {result.verdict.value.upper()} ({result.reason_code}): {result.reason}")
        excluded = sum(
            n
            for w in (state.gate.evidence.baseline, state.gate.evidence.post)
            for r in w.excluded.values()
            for n in r.values()
        )
        if excluded:
            tr.line(
                f"excluded as malformed: {excluded:,} rows (see {state.settings.reports_dir / state.settings.env.name / 'summary.md'})",
                yellow=True,
            )
    for path in state.report_paths:
        tr.line(f"report: {path}")


def _table(gate: Gate) -> list[list[str]]:
    rows = [["goal", "kind", "verdict", "baseline", "post", "delta", "interval", "n (baseline/post)"]]
    for r in gate.results.values():
        delta = "n/a"
        if r.estimate is not None and r.kind is not Kind.PRECONDITION:
            delta = (
                f"x{r.estimate:.3f}"
                if "/" in r.statistic
                else (f"{100 * r.estimate:+.2f} pp" if " - " in r.statistic else _shown(r.estimate))
            )
        interval = "n/a" if r.interval is None else f"[{r.interval.low:.4g}, {r.interval.high:.4g}]"
        rows.append(
            [
                r.goal,
                r.kind.value,
                r.verdict.value.upper(),
                _shown(r.baseline.value),
                _shown(r.post.value),
                delta,
                interval,
                f"{r.baseline.n:,}/{r.post.n:,}",
            ]
        )
    return rows


def _shown(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.telemetry is not None:
        state.telemetry.close()
