"""The lifecycle of one gate run: declared checks, the source, one fetch, every judgement, the decision
and the reports. The pytest plugin calls it from its hooks; nothing here imports pytest.

    run = Run(settings=..., suite=..., root=..., environ=os.environ)
    run.declare(goal, path)            # every goal module of the suite, collected or not
    run.prepare(selected={...})        # targets, windows, staging evidence: before any database work
    run.open()                         # one snapshot, every check judged
    run.result("search_p95_reduction")
    decision = run.finish(interrupted=False)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sprintgate.config import ConfigError, Settings, Thresholds
from sprintgate.database import DatabaseError
from sprintgate.decision import EXIT_REPORT_FAILED, Decision, decide_run
from sprintgate.design import Clustering
from sprintgate.evidence import Evidence
from sprintgate.goals import Goal, Row
from sprintgate.kinds import Errors, Reads
from sprintgate.looks import look_of
from sprintgate.measures import DeclarationError
from sprintgate.preconditions import PRECONDITIONS, Precondition, PreconditionCheck, check_preconditions
from sprintgate.progress import QueryWatch
from sprintgate.provenance import RunInfo, versions
from sprintgate.report import FORMAT, combined_summary, metrics_csv, results_document, summary_markdown
from sprintgate.reportset import HISTORY, ReportError, mark_running, read_history, write_file, write_set
from sprintgate.results import GoalResult, Kind
from sprintgate.server import ServerError, ServerOptions
from sprintgate.source import GateError, TelemetrySource
from sprintgate.staging import StagingEvidence, sign, signing_key, verify
from sprintgate.suite import Suite
from sprintgate.verdicts import judge

Check = Goal | Precondition
FAULTS = (DatabaseError, ServerError, GateError)


@dataclass(frozen=True, slots=True)
class Declared:
    """A check as a goal module declares it, and the module that declares it."""

    check: Check
    path: Path

    @property
    def id(self) -> str:
        return self.check.id if isinstance(self.check, Goal) else self.check.name


def suite_digest(suite: Suite, goals: list[Goal], thresholds: Thresholds) -> str:
    """One hash of what a run judges: the suite's name and flags, every goal with its effective target,
    and the thresholds it is judged by (a staging PASS at a laxer confidence is another judgement)."""
    body = json.dumps(
        {
            "suite": suite.name,
            "flags": list(suite.flags),
            "goals": sorted([g.id, g.kind.value, repr(g.metric), g.clustering.value, g.advisory] for g in goals),
            "thresholds": asdict(thresholds),
        },
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


class Run:
    """One run of the gate over one suite."""

    def __init__(
        self,
        *,
        settings: Settings,
        suite: Suite,
        root: Path,
        environ: Mapping[str, str],
        server_options: ServerOptions | None = None,
        say: Callable[[str], None] = print,
        watch: QueryWatch | None = None,
    ) -> None:
        self.settings = settings
        self.suite = suite
        self.root = root
        self.environ = environ
        self.server_options = server_options
        self.say = say
        self.watch = watch
        self.declared: dict[str, Declared] = {}
        self.selected: set[str] = set()
        self.subset: str | None = None
        self.outcomes: dict[str, str] = {}
        self.results: dict[str, GoalResult] = {}
        self.plots: dict[str, bytes] = {}
        self.evidence: Evidence | None = None
        self.fault: str | None = None
        self.source: TelemetrySource | None = None
        self.info: RunInfo | None = None
        self.decision: Decision | None = None
        self.report_error: str | None = None
        self.staging: StagingEvidence | None = None
        self.started = datetime.now(UTC)

    # --- collection --------------------------------------------------------------------------------

    def declare(self, check: Check, path: Path) -> None:
        """A check a goal module of the suite declares; two modules declaring one id is an error."""
        found = Declared(check, path)
        if isinstance(check, Goal) and check.id in {p.name for p in PRECONDITIONS}:
            raise ConfigError(
                f"sprintgate: {path.name} declares a goal with the id {check.id!r}, the name of a built-in precondition; give it another id."
            )
        earlier = self.declared.get(found.id)
        if earlier is not None and earlier.path != path:
            raise ConfigError(
                f"sprintgate: {path.name} and {earlier.path.name} both declare the check {found.id!r}; give each goal its own id."
            )
        self.declared[found.id] = found

    @property
    def goals(self) -> list[Goal]:
        return [d.check for d in self.declared.values() if isinstance(d.check, Goal)]

    def prepare(self, selected: set[str], subset: str | None) -> None:
        """Apply targets, check the declarations, plan the windows and verify staging evidence: every
        mistake here is one line before any database work."""
        self.selected, self.subset = selected, subset
        for precondition in PRECONDITIONS:
            if precondition.name not in self.declared:
                # The preconditions hold for every suite, declared as modules or not.
                self.declared[precondition.name] = Declared(precondition, self.root)
        goal_ids = {g.id for g in self.goals}
        unknown = sorted(set(self.settings.targets) - goal_ids)
        if unknown:
            raise ConfigError(
                f"sprintgate: target {unknown[0]!r} names no goal of the suite (from --target or [tool.sprintgate.targets]); known: {', '.join(sorted(goal_ids))}."
            )
        for goal_id, text in self.settings.targets.items():
            declared = self.declared[goal_id]
            assert isinstance(declared.check, Goal)
            try:
                self.declared[goal_id] = replace(declared, check=declared.check.with_target(text))
            except (ValueError, DeclarationError) as error:
                raise ConfigError(
                    f"sprintgate: --target {goal_id}={text}: {str(error).removeprefix('sprintgate: ').rstrip('.')}."
                ) from None
        self._check_declarations()
        # From here the run is on record as under way: killed before its set is written, it stays so.
        # A reports directory that cannot be written is said at the end of the run (exit 73).
        with contextlib.suppress(ReportError):
            mark_running(
                self.reports_directory,
                self._running,
                {
                    "format": FORMAT,
                    "env": self.settings.env.name,
                    "generated_at": self.started.isoformat(),
                    "verdict": "running",
                },
                self.settings.file_mode,
            )
        try:
            self._open_source()
        except ConfigError:
            self.abandon()  # refused: it never ran
            raise

    def _open_source(self) -> None:
        """The telemetry source, the windows and the run's provenance (staging evidence verified)."""
        try:
            self.source = TelemetrySource(
                self.settings, self.suite, self.environ, self.server_options, loading=self.say
            )
            baseline, post = self.source.planned_windows()
        except (ServerError, GateError) as error:
            raise ConfigError(str(error)) from None
        settings = self.settings
        url = (
            settings.change_record_url.replace("{id}", settings.change_record)
            if settings.change_record and settings.change_record_url
            else None
        )
        self.info = RunInfo(
            env=settings.env.name,
            suite=self.suite.name,
            source=self.source.describe(),
            baseline=baseline,
            post=post,
            confidence=settings.thresholds.confidence,
            seed=settings.seed,
            versions=versions(self.root),
            flip=self.source.flip_label(),
            change_record=settings.change_record,
            change_record_url=url,
            forced=self._promotion(),
            staging=None if self.staging is None else self.staging.record(),
            generated_at=self.started,
        )

    def _check_declarations(self) -> None:
        """Every measure a goal reads is declared on event types of the suite's table; report rows name
        goals that exist."""
        goal_ids = {g.id for g in self.goals}
        for row in self.suite.report:
            if not isinstance(row, Row):
                raise ConfigError(f"sprintgate: Suite report holds {row!r}; use Row(label, metric, goal=...).")
            if row.goal is not None and row.goal not in goal_ids:
                raise ConfigError(
                    f"sprintgate: report row {row.label!r} names the goal {row.goal!r}, which no module declares; known: {', '.join(sorted(goal_ids))}."
                )
        columns = set(self.suite.columns)
        for goal in self.goals:
            if self.suite.cluster is None and goal.clustering is Clustering.CLUSTER:
                raise ConfigError(
                    f"sprintgate: {self.declared[goal.id].path.name}: goal {goal.id} clusters by the suite's cluster column, "
                    "but the suite declares none; set Suite(cluster=...) or Clustering.TIME."
                )
            reads = goal.metric.reads()
            for measure in reads.units:
                if measure.unit not in columns:
                    path = self.declared[goal.id].path.name
                    raise ConfigError(
                        f"sprintgate: {path}: measure {measure.name} counts per {measure.unit!r}, which is not a column of the suite "
                        f"(declared: {', '.join(sorted(columns)) or 'none'}); declare it in Suite(columns=...)."
                    )

    def _promotion(self) -> str | None:
        """A promoting environment needs verified staging evidence (or --force REASON, recorded)."""
        settings = self.settings
        if not settings.promotes:
            return None
        path = settings.staging_results or self.root / settings.reports_dir / settings.staging_env / "results.json"
        try:
            key = signing_key(self.environ, settings.signing_key_env)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        found = verify(
            path,
            staging_env=settings.staging_env,
            suite_digest=suite_digest(self.suite, self.goals, settings.thresholds),
            versions=versions(self.root),
            change_record=settings.change_record,
            key=key,
            signing_variable=settings.signing_key_env,
            max_age_hours=settings.staging_max_age_hours,
            now=datetime.now(UTC),
            history=self.root / settings.reports_dir / settings.staging_env / HISTORY,
            database=None if self.source is None or self.source.dsn is None else self.source.dsn.display,
        )
        if not isinstance(found, str):
            self.staging = found
            return None if settings.force is None else f"{settings.force} (not needed: the staging evidence verified)"
        if settings.force is None:
            raise ConfigError(
                f"sprintgate: --env {settings.env.name} promotes and was refused: {found}; a promotion needs a passing, signed "
                f"{settings.staging_env} run of the same suite (override with --force 'REASON', which is recorded in the reports)."
            )
        return f"{settings.force} (overrode: {found})"

    def header(self) -> list[str]:
        return [] if self.info is None else self.info.lines()

    # --- judging -----------------------------------------------------------------------------------

    def _reads(self) -> list[Reads]:
        reads = [g.metric.reads() for g in self.goals]
        reads += [row.metric.reads() for row in self.suite.report]
        return reads

    def open(self) -> None:
        """Fetch the evidence from one snapshot and judge every check; a fault is kept as one line."""
        if self.evidence is not None or self.fault is not None:
            return
        assert self.source is not None
        assert self.info is not None
        # scipy.special takes ~0.3 s to import; judging needs it after the queries, which mostly wait.
        # matplotlib is imported when the first plot is drawn, after the verdicts: imported beside
        # the evidence it raised the peak memory of a run by about 8 MB.
        threading.Thread(target=_import_statistics, daemon=True).start()
        try:
            evidence = self.source.fetch(self._reads(), self.watch)
        except FAULTS as error:
            self.fault = self._scrub(str(error))
            return
        except Exception as error:
            self.fault = self._scrub(
                f"sprintgate: the evidence could not be read ({type(error).__name__}: {' '.join(str(error).split())})"
            )
            return
        self.evidence = evidence
        self.info = self.info.with_windows(
            evidence.baseline.window, evidence.post.window, tuple(self.source.notes), evidence.census.snapshot
        )
        self._judge_all(evidence)

    def _judge_all(self, evidence: Evidence) -> None:
        assert self.info is not None
        thresholds = self.settings.thresholds
        goals = self.goals
        checks = check_preconditions(evidence, self.suite, goals, thresholds)
        history = read_history(self.reports_directory)
        alpha = (1 - thresholds.confidence) / 2
        guardrails = sum(1 for g in goals if g.kind is Kind.GUARDRAIL and not g.advisory)
        current = {
            "flip": self.info.flip,
            "baseline": {
                "start": evidence.baseline.window.start.isoformat(),
                "end": evidence.baseline.window.end.isoformat(),
            },
            "post": {"start": evidence.post.window.start.isoformat(), "end": evidence.post.window.end.isoformat()},
        }
        for goal in goals:
            look = look_of(goal.id, current, history, alpha=alpha, first=thresholds.first_look_share)
            failing = alpha / guardrails if goal.kind is Kind.GUARDRAIL and guardrails else alpha
            errors = Errors(passing=look.alpha, failing=failing, next_passing=look.next_alpha, look=look.number)
            try:
                result = judge(
                    goal,
                    evidence,
                    suite=self.suite,
                    thresholds=thresholds,
                    checks=checks,
                    errors=errors,
                    placebo_family=len(goals),
                )
            except Exception as error:
                self.fault = f"sprintgate: judging {goal.id} failed ({type(error).__name__}: {error}); this is a bug in sprintgate, please report it"
                self.results.clear()
                return
            self.results[goal.id] = replace(result, details={**result.details, "earlier_looks": list(look.earlier)})
        for name, check in checks.items():
            self.results[name] = check.result
        self._checks = checks

    @property
    def checks(self) -> Mapping[str, PreconditionCheck]:
        return getattr(self, "_checks", {})

    def result(self, check_id: str) -> GoalResult:
        """The judged result of a check (after :meth:`open`)."""
        if self.fault is not None:
            raise DatabaseError(self.fault)
        if check_id not in self.results:
            raise KeyError(
                f"sprintgate: {check_id!r} is not a check of the suite; known: {', '.join(sorted(self.declared))}"
            )
        return self.results[check_id]

    def record(self, check_id: str, outcome: str) -> None:
        """What the check's test item reported: pass, fail, inconclusive, error or skipped."""
        self.outcomes[check_id] = outcome

    def plot(self, check_id: str) -> bytes | None:
        """The check's plot (drawn once); preconditions have none."""
        if check_id in self.plots:
            return self.plots[check_id]
        declared = self.declared.get(check_id)
        if self.evidence is None or declared is None or not isinstance(declared.check, Goal):
            return None
        self.plots[check_id] = declared.check.metric.plot(self.results[check_id], self.evidence)
        return self.plots[check_id]

    def overview(self, decision: Decision | None = None) -> bytes:
        from sprintgate import plots  # noqa: PLC0415 - matplotlib only when plotting

        return plots.overview(list(self.results.values()), decision or self.preview())

    def preview(self) -> Decision:
        """The decision as it would be if every check were judged (for the overview drawn mid-run)."""
        return self._decide(interrupted=False, assume_complete=True)

    # --- the end -----------------------------------------------------------------------------------

    def judged(self) -> list[str]:
        """Checks judged in this run: goals whose test reached a verdict, and the preconditions,
        which every run that read the evidence judges whether or not a module shows them."""
        good = {"pass", "fail", "inconclusive"}
        return [
            check_id
            for check_id, declared in self.declared.items()
            if self.outcomes.get(check_id) in good
            or (isinstance(declared.check, Precondition) and check_id in self.results and check_id not in self.outcomes)
        ]

    def _decide(self, *, interrupted: bool, assume_complete: bool = False) -> Decision:
        judged = list(self.declared) if assume_complete else self.judged()
        results = [self.results[c] for c in judged if c in self.results]
        errors = [c for c, o in self.outcomes.items() if o in ("error", "skipped")]
        subset = self.subset
        if errors and subset is None and not assume_complete:
            subset = f"{', '.join(sorted(errors))} did not run to a verdict"
        return decide_run(
            results,
            total=len(self.declared),
            judged=len(judged),
            fault=self.fault,
            interrupted=interrupted,
            subset=None if assume_complete else subset,
            rollback=self.suite.rollback,
            days_per_window=self.evidence.post.window.days if self.evidence is not None else 7.0,
        )

    @property
    def reports_directory(self) -> Path:
        return self.root / self.settings.reports_dir / self.settings.env.name

    def finish(self, *, interrupted: bool) -> Decision:
        """Decide, then write every report as one set; a failed write is one line and exit 73."""
        assert self.info is not None
        decision = self._decide(interrupted=interrupted)
        self.decision = decision
        judged = self.judged()
        results = [self.results[c] for c in judged if c in self.results]
        not_judged = [c for c in self.declared if c not in judged]
        document = results_document(self.info, self.suite, decision, results, not_judged, self.evidence)
        document["suite_digest"] = suite_digest(self.suite, self.goals, self.settings.thresholds)
        try:
            key = signing_key(self.environ, self.settings.signing_key_env)
        except ValueError:
            key = None
        if key is not None and self.settings.env.dsn_env is not None:  # synthetic data is evidence of nothing
            document["signature"] = sign(document, key)
        directory = self.reports_directory
        mine = self.info.generated_at.isoformat()
        history = [d for d in read_history(directory) if d.get("verdict") != "running" or d.get("generated_at") != mine]
        text = self._scrub(json.dumps(document, indent=2, allow_nan=False) + "\n")
        files: dict[str, str | bytes] = {
            "results.json": text,
            "summary.md": self._scrub(summary_markdown(json.loads(text), history)),
            "metrics.csv": self._scrub(metrics_csv(document)),
        }
        try:
            if self.evidence is not None:
                for check_id in judged:
                    image = self.plot(check_id)
                    if image is not None:
                        files[f"plots/{check_id}.png"] = image
            files["plots/overview.png"] = self.overview(decision)
        except Exception as error:
            self.report_error = self._scrub(
                f"sprintgate: a plot could not be drawn ({type(error).__name__}: {error}); no report was written."
            )
            return decision
        stamp = self.info.generated_at.strftime("%Y%m%dT%H%M%S%fZ")
        try:
            write_set(
                directory,
                files,
                history_name=f"{stamp}-{decision.verdict}.json",
                mode=self.settings.file_mode,
                replaces=self._running,
            )
            combined = combined_summary(directory.parent)
            if combined is not None:
                write_file(directory.parent / "summary.md", self._scrub(combined), self.settings.file_mode)
        except ReportError as error:
            self.report_error = self._scrub(str(error))
        except OSError as error:
            self.report_error = self._scrub(f"sprintgate: reports/summary.md could not be written ({error.strerror}).")
        return decision

    def abandon(self) -> None:
        """A run that judges nothing (``--collect-only``, or refused before it read anything) leaves no record."""
        (self.reports_directory / HISTORY / self._running).unlink(missing_ok=True)

    @property
    def _running(self) -> str:
        """The history entry that marks this run as under way until its set is written."""
        return f"{self.started.strftime('%Y%m%dT%H%M%S%fZ')}-running.json"

    @property
    def exit_code(self) -> int:
        if self.report_error is not None:
            return EXIT_REPORT_FAILED
        assert self.decision is not None
        return self.decision.exit_code

    def _scrub(self, text: str) -> str:
        from sprintgate.dsn import scrub  # noqa: PLC0415 - the one scrubber, for every report

        secrets = () if self.source is None else self.source.secrets
        return scrub(text, secrets)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def _import_statistics() -> None:
    import importlib  # noqa: PLC0415

    importlib.import_module("scipy.special")
