"""The pytest plugin: options, the ``gate`` fixture, INCONCLUSIVE as its own outcome, the headline,
and the exit code. The run's lifecycle lives in :class:`sprintgate.run.Run`; this module maps pytest's
hooks onto it and is the only one that reads options, ini values and the environment.

A project opts in from its goals' conftest, so other suites in the same environment see no option
and pay no import::

    # goals/conftest.py
    pytest_plugins = ("sprintgate.plugin",)
    SUITE = Suite(...)
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from sprintgate.config import ConfigError, read_pyproject, resolve
from sprintgate.database import DatabaseError
from sprintgate.decision import ACTIONS
from sprintgate.dsn import scrub
from sprintgate.gate import Gate, GoalInconclusive, GoalNotMet
from sprintgate.goals import Goal
from sprintgate.measures import DeclarationError, Measure
from sprintgate.preconditions import Precondition
from sprintgate.progress import QueryWatch
from sprintgate.report import terminal_lines
from sprintgate.results import GoalResult
from sprintgate.run import FAULTS, Run
from sprintgate.server import ServerError, server_options
from sprintgate.suite import Suite
from sprintgate.text import terminal

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


class _Collection:
    """Remembers the collection failures of one session: a goal module that does not load becomes a
    usage error (one line), not a traceback per goal."""

    def __init__(self) -> None:
        self.failed: list[pytest.CollectReport] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.failed.append(report)


@dataclass
class _State:
    run: Run
    collection: _Collection
    items: dict[str, str] = field(default_factory=dict)  # node id -> check id
    refused: bool = False  # collection raised a usage error; pytest still calls collection_finish
    terminated: object = None  # the SIGTERM handler before this run's


STATE = pytest.StashKey[_State]()


def _annotate(run: Run, result: GoalResult) -> None:
    """Tell Allure what this test judges (only when allure-pytest records: it draws every plot)."""
    from sprintgate.allure_results import annotate  # noqa: PLC0415 - allure only when it records

    annotate(run, result)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sprintgate", "sprintgate release gate")
    group.addoption(
        "--env",
        dest="sprintgate_env",
        metavar="NAME",
        help="environment to judge: demo (embedded, the default), staging, production, or one from [tool.sprintgate.environments].",
    )
    group.addoption(
        "--scenario",
        dest="sprintgate_scenario",
        metavar="NAME",
        help="demo scenario the demo environment loads (default: the suite's first).",
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
        help="the flag flip: BASELINE is the window before it, POST the window after the warm-up; auto finds it from the first events with every flag on.",
    )
    group.addoption(
        "--staging-results",
        dest="sprintgate_staging_results",
        metavar="PATH",
        help="the signed staging results.json a promotion requires (default reports/staging/results.json).",
    )
    group.addoption(
        "--force",
        dest="sprintgate_force",
        metavar="REASON",
        help="promote without verified staging evidence; the reason is recorded in every report.",
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
        help="override a goal's target, in its unit (0.7, 30%%, 5pt, 2000ms); repeatable.",
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


def _suite(config: pytest.Config) -> tuple[Suite, Path]:
    """The suite a conftest declares (``SUITE = Suite(...)``) and its folder."""
    found = []
    for plugin in config.pluginmanager.get_plugins():
        suite = getattr(plugin, "SUITE", None)
        if isinstance(plugin, ModuleType) and isinstance(suite, Suite) and plugin.__file__:
            found.append((suite, Path(plugin.__file__).resolve().parent))
    if not found:
        raise pytest.UsageError(
            "sprintgate: no suite is declared; add SUITE = Suite(...) to the conftest.py of your goals folder (README, 'Write your first goal')."
        )
    if len({id(s) for s, _ in found}) > 1:
        raise pytest.UsageError(
            f"sprintgate: more than one conftest declares a SUITE ({', '.join(str(p) for _, p in found)}); a run judges one suite."
        )
    return found[0]


def pytest_configure(config: pytest.Config) -> None:
    if (
        hasattr(config, "workerinput")
        or getattr(config.option, "numprocesses", None)
        or getattr(config.option, "dist", "no") != "no"
    ):
        raise pytest.UsageError(
            "sprintgate: the gate fetches the evidence once and judges every goal in one process; run it without -n/--dist (pytest-xdist)."
        )
    if config.option.showfixtures or getattr(config.option, "show_fixtures_per_test", False):
        raise pytest.UsageError(
            "sprintgate: --fixtures lists fixtures and judges nothing; the gate refuses it so that CI never reads its exit 0 as a verdict."
        )
    options = {key: config.getoption(f"sprintgate_{key}") for key in _OPTIONS}
    pyproject = config.rootpath / "pyproject.toml"
    try:
        settings = resolve(read_pyproject(pyproject), options, source=str(pyproject))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    suite, _ = _suite(config)
    try:
        postgresql = server_options(lambda name: _pytest_postgresql_option(config, name))
    except ServerError as error:
        raise pytest.UsageError(str(error)) from None
    say = _terminal_line(config)
    run = Run(
        settings=settings,
        suite=suite,
        root=config.rootpath,
        environ=os.environ,
        server_options=postgresql,
        say=say,
        watch=QueryWatch(say, after_s=settings.progress_after_s),
    )
    collection = _Collection()
    config.pluginmanager.register(collection, "sprintgate-collection")
    config.stash[STATE] = _State(run, collection, terminated=_on_sigterm())


def _on_sigterm() -> object:
    """A CI job cancelled with SIGTERM ends like Ctrl-C: pytest's interrupted path writes an INCOMPLETE
    report set and the throwaway server is stopped. The previous handler comes back at unconfigure."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def _pytest_postgresql_option(config: pytest.Config, name: str) -> object | None:
    """pytest-postgresql's option or ini value, when that plugin is loaded (it may be disabled)."""
    value: object | None
    try:
        value = config.getoption(name)
    except ValueError:
        value = None
    if value is not None:
        return value
    try:
        value = config.getini(name)
    except ValueError:
        return None
    return value or None


def _terminal_line(config: pytest.Config) -> Callable[[str], None]:
    def say(message: str) -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        writer = config.get_terminal_writer()
        if capture is None:
            writer.line(terminal(message), yellow=True)
            return
        with capture.global_and_fixture_disabled():
            writer.line(terminal(message), yellow=True)

    return say


def _load_error(report: pytest.CollectReport, suite_dir: Path) -> str | None:
    path = Path(str(report.fspath)).resolve() if report.fspath else None
    if path is None or suite_dir not in path.parents:
        return None
    text = str(report.longrepr).strip().splitlines()
    last = next((line for line in reversed(text) if line.strip()), "it does not import")
    message = terminal(last.removeprefix("E").strip())
    known = ""
    if "cannot import name" in message and " from '" in message:
        module = message.split(" from '", 1)[1].split("'", 1)[0]
        loaded = sys.modules.get(module)
        if loaded is not None:
            names = sorted(n for n, v in vars(loaded).items() if isinstance(v, Measure | Suite))
            known = f"; {module} declares: {', '.join(names)}" if names else ""
    return f"sprintgate: {path.relative_to(suite_dir.parent)} does not load: {message}{known}."


def _module_name(path: Path) -> tuple[str, Path]:
    """The name pytest's default import mode gives ``path``, and the folder it puts on sys.path."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


def _declared_in(module: ModuleType) -> Goal | Precondition | None:
    check = getattr(module, "GOAL", None) or getattr(module, "PRECONDITION", None)
    if isinstance(check, Goal):
        return check.with_text((module.__doc__ or "").strip())
    if isinstance(check, Precondition):
        return check
    return None


def _test_modules(suite_dir: Path, patterns: Sequence[str]) -> list[Path]:
    """Every file of the suite pytest would collect as a test module (its ``python_files`` patterns)."""
    found = []
    for path in sorted(suite_dir.rglob("*.py")):
        relative = path.relative_to(suite_dir.parent).as_posix()
        if any(fnmatch.fnmatch(path.name, p) or ("/" in p and fnmatch.fnmatch(relative, f"*{p}")) for p in patterns):
            found.append(path)
    return found


def _uncollected(suite_dir: Path, collected: set[Path], patterns: Sequence[str]) -> list[tuple[Path, ModuleType]]:
    """Test modules of the suite that this run did not collect (a file subset, an ignored or skipped
    module), imported to count the checks they declare."""
    found = []
    for path in _test_modules(suite_dir, patterns):
        if path.resolve() in collected:
            continue
        name, folder = _module_name(path.resolve())
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        try:
            found.append((path, importlib.import_module(name)))
        except pytest.skip.Exception as skipped:
            raise pytest.UsageError(
                f"sprintgate: {path.name} skips itself at import ({terminal(str(skipped.msg))}); a check that does not "
                "run is never judged, so the suite cannot promote: remove the skip."
            ) from None
        except Exception as error:
            raise pytest.UsageError(
                f"sprintgate: {path.name} does not load: {terminal(type(error).__name__)}: {terminal(str(error))}."
            ) from None
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Learn every check the suite declares, collected or not, before -k or -m deselect any."""
    state = config.stash[STATE]
    state.refused = True  # until every check is learnt
    _, suite_dir = _suite(config)
    for report in state.collection.failed:
        message = _load_error(report, suite_dir)
        if message:
            raise pytest.UsageError(message)
    collected: set[Path] = set()
    try:
        for item in items:
            if "gate" not in getattr(item, "fixturenames", ()):
                continue
            module = getattr(item, "module", None)
            check = None if module is None else _declared_in(module)
            if check is None:
                raise pytest.UsageError(
                    f"sprintgate: {item.nodeid} uses the gate but its module declares no GOAL or PRECONDITION."
                )
            path = Path(str(item.path)).resolve()
            collected.add(path)
            state.run.declare(check, path)
            state.items[item.nodeid] = check.id if isinstance(check, Goal) else check.name
        for path, module in _uncollected(suite_dir, collected, config.getini("python_files")):
            check = _declared_in(module)
            if check is not None:
                state.run.declare(check, path)
    except (ConfigError, DeclarationError) as error:
        raise pytest.UsageError(str(error)) from None
    state.refused = False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After deselection: which checks this run will judge, and everything checked before any query."""
    state = session.config.stash[STATE]
    if state.refused or not state.run.declared:
        return
    selected = {state.items[item.nodeid] for item in session.items if item.nodeid in state.items}
    # Every check a module declares runs as its test (the built-in preconditions are added later and
    # judged by every run that reads the evidence); a module left out makes the run a subset.
    subset = None
    missing = sorted(set(state.run.declared) - selected)
    if missing:
        how = "deselected or not collected"
        subset = f"{', '.join(missing[:5])}{' and more' if len(missing) > 5 else ''} {how}"
    try:
        state.run.prepare(selected, subset)
    except (ConfigError, DeclarationError) as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_collectionfinish(config: pytest.Config, start_path: Path, items: Sequence[pytest.Item]) -> list[str]:
    return config.stash[STATE].run.header()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Fetch and judge before the first goal runs; when the telemetry cannot be read, say so once and
    run no goal (each would only repeat the same fault)."""
    state = session.config.stash[STATE]
    if session.config.option.collectonly or not state.items:
        return None
    state.run.open()
    if state.run.fault is not None:
        state.run.say(f"sprintgate: COULD NOT MEASURE: {state.run.fault.removeprefix('sprintgate: ')}")
        return True
    return None


@pytest.fixture(scope="session")
def gate(request: pytest.FixtureRequest) -> Gate:
    """The gate of this run: every check judged once on one snapshot of both windows."""
    state = request.config.stash[STATE]
    state.run.open()
    if state.run.fault is not None:
        raise DatabaseError(state.run.fault)
    run = state.run
    # allure-pytest is loaded whenever it is installed; it records only with --alluredir.
    if "allure_pytest" not in sys.modules or not getattr(request.config.option, "allure_report_dir", None):
        return Gate(run.result)
    return Gate(run.result, lambda result: _annotate(run, result))


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
            report.sprintgate_verdict = "inconclusive"  # type: ignore[attr-defined]
            report.longrepr = (
                str(item.path),
                (item.location[1] or 0) + 1,
                f"INCONCLUSIVE: {terminal(str(excinfo.value))}",
            )
        elif excinfo.errisinstance(GoalNotMet) or excinfo.errisinstance(FAULTS):
            report.longrepr = terminal(str(excinfo.value))
    secrets = () if state.run.source is None else state.run.source.secrets
    if secrets:
        _scrub_report(report, secrets)
    check_id = state.items.get(item.nodeid)
    if check_id is not None and (report.when == "call" or report.outcome != "passed"):
        state.run.record(check_id, _outcome(report, excinfo))
    return report


def _outcome(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    if excinfo is not None and excinfo.errisinstance(GoalInconclusive):
        return "inconclusive"
    if excinfo is not None and excinfo.errisinstance(GoalNotMet):
        return "fail"
    if report.when != "call" and report.failed:
        return "error"
    if report.failed:
        return "error"  # a goal test that failed without a FAIL verdict is a bug, not a measurement
    return "pass" if report.passed else "skipped"


def _scrub_report(report: pytest.TestReport, secrets: tuple[str, ...]) -> None:
    if isinstance(report.longrepr, tuple):
        path, line, reason = report.longrepr
        report.longrepr = (path, line, scrub(reason, secrets))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        cleaned = scrub(text, secrets)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, scrub(body, secrets)) for title, body in report.sections]


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if getattr(report, "sprintgate_verdict", None) == "inconclusive":
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.run.info is None or not state.run.declared:
        return
    if session.config.option.collectonly:
        # Listing the goals judges none of them: never an exit CI could read as "promote".
        state.run.abandon()
        state.run.say(f"sprintgate: --collect-only judges nothing (exit 64: {ACTIONS[64]})")
        session.exitstatus = 64
        return
    if exitstatus in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    run = state.run
    try:
        _finish(session, run, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        # Ctrl-C or a cancelled job while the reports were written: they are written again, saying
        # the run was interrupted, and the exit is pytest's 2.
        _finish(session, run, interrupted=True)
        session.exitstatus = pytest.ExitCode.INTERRUPTED
        return
    if exitstatus != pytest.ExitCode.INTERRUPTED:
        session.exitstatus = run.exit_code


def _finish(session: pytest.Session, run: Run, *, interrupted: bool) -> None:
    run.finish(interrupted=interrupted)
    alluredir = getattr(session.config.option, "allure_report_dir", None)
    if alluredir:
        from sprintgate.allure_results import finish_allure  # noqa: PLC0415 - allure only when it records

        finish_allure(Path(alluredir), run, os.environ)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.run.decision is None:
        return
    run = state.run
    assert run.decision is not None
    terminalreporter.section("sprintgate")
    judged = [run.results[c] for c in run.judged() if c in run.results]
    colour = {"promote": {"green": True}, "wait": {"yellow": True}}.get(run.decision.outcome.value, {"red": True})
    lines = terminal_lines(run.decision, judged)
    terminalreporter.write_line(lines[0], bold=True, **colour)
    for line in lines[1:]:
        terminalreporter.write_line(line)
    if run.report_error is not None:
        terminalreporter.write_line(terminal(run.report_error), red=True)
        terminalreporter.write_line(f"exit {run.exit_code}: {ACTIONS[run.exit_code]}")
    else:
        terminalreporter.write_line(f"reports: {run.reports_directory}/summary.md")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.run.close()
        if state.terminated is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, state.terminated)  # type: ignore[arg-type]
