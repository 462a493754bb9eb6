"""The decision of a run: one outcome for the whole suite, its headline, and the exit code CI reads.

One rule: PROMOTE (exit 0) only when every check of the suite was judged in this run, in one process,
every blocking goal, guardrail and precondition passed, and every report was written. Anything less
never exits 0 and never leaves a report that says pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sprintgate.results import GoalResult, Kind
from sprintgate.verdict import Verdict


class Outcome(StrEnum):
    """What the run says to do."""

    PROMOTE = "promote"
    DO_NOT_PROMOTE = "do not promote"
    WAIT = "wait"
    COULD_NOT_MEASURE = "could not measure"
    INCOMPLETE = "incomplete"


#: The exit code of each outcome (README, "Exit codes"); 2, 3, 4 and 5 stay pytest's own.
EXIT_CODES = {
    Outcome.PROMOTE: 0,
    Outcome.DO_NOT_PROMOTE: 1,
    Outcome.INCOMPLETE: 64,
    Outcome.COULD_NOT_MEASURE: 69,
    Outcome.WAIT: 75,
}
#: The exit code when the run judged but a report could not be written.
EXIT_REPORT_FAILED = 73
#: What CI should do for each exit code.
ACTIONS = {
    0: "promote",
    1: "stop: do not promote (roll back when a guardrail is breached)",
    2: "the run was interrupted: rerun",
    3: "internal error: report it, then rerun",
    4: "fix the command or the configuration",
    5: "no goals were collected: fix the command",
    6: "pytest's --max-warnings was exceeded: do not promote; fix the warnings",
    64: "run the whole suite: a subset cannot promote",
    69: "retry later: the telemetry could not be read",
    73: "fix the reports directory, then rerun",
    75: "wait for more data, then rerun",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The run's outcome with its headline: the decision, its one root cause, and what to do next."""

    outcome: Outcome
    headline: str
    cause: str | None
    next_step: str
    judged: int
    total: int
    blocked_by: str | None = None  # the precondition that blocks every goal, when one does

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def verdict(self) -> str:
        """The one word reports and CI read: pass, fail, inconclusive, error or incomplete."""
        return {
            Outcome.PROMOTE: "pass",
            Outcome.DO_NOT_PROMOTE: "fail",
            Outcome.WAIT: "inconclusive",
            Outcome.COULD_NOT_MEASURE: "error",
            Outcome.INCOMPLETE: "incomplete",
        }[self.outcome]

    def line(self) -> str:
        """The headline in one line, as the terminal, summary.md, the overview plot and Allure show it."""
        return f"{self.outcome.value.upper()}: {self.headline}"


#: Reason codes of an INCONCLUSIVE goal that more data of the same kind will not resolve.
UNREADABLE = frozenset({"unread_rows_could_explain", "too_many_excluded"})

#: Per precondition reason code: the root cause in a few words, and what to do about it.
BLOCKERS: Mapping[str, tuple[str, str]] = {
    "flags_off": ("the flags are not on in POST", "confirm the deployment enables the flags in POST, then rerun"),
    "flags_on_in_baseline": ("the flags are already on in BASELINE", "move BASELINE before the flip"),
    "instrumentation_missing": ("events the goals need are missing", "fix the event writes the goals need, then rerun"),
    "window_too_short": ("a window is too short", "wait until both windows are long enough, then rerun"),
    "window_not_covered": ("the events do not cover a window", "check the windows and the event writes, then rerun"),
    "window_not_closed": ("POST has not closed yet", "wait until POST has closed, then rerun"),
    "data_not_complete": ("POST's events are not all in yet", "wait for late events, then rerun"),
    "windows_not_comparable": (
        "BASELINE and POST are not comparable",
        "pick windows with the same weekdays and traffic (see windows_comparable)",
    ),
    "duplicate_ids": ("the telemetry repeats event ids", "deduplicate the telemetry or add a unique index on id"),
    "rows_not_understood": ("rows without an event type", "fix the event writes, then rerun"),
}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def decide_run(
    results: Sequence[GoalResult],
    *,
    total: int,
    judged: int,
    fault: str | None = None,
    interrupted: bool = False,
    subset: str | None = None,
    rollback: str = "",
    days_per_window: float = 7.0,
) -> Decision:
    """The run's decision from the results of the checks judged in it."""
    if fault is not None:
        return Decision(
            outcome=Outcome.COULD_NOT_MEASURE,
            headline=fault.removeprefix("sprintgate: "),
            cause=fault,
            next_step="retry when the telemetry can be read; nothing was judged",
            judged=judged,
            total=total,
        )
    if interrupted or subset is not None or judged < total:
        why = "the run was interrupted" if interrupted else (subset or "some checks did not run")
        return Decision(
            outcome=Outcome.INCOMPLETE,
            headline=f"{judged} of {total} checks judged ({why}); a verdict needs every check of the suite in one run",
            cause=why,
            next_step="run the whole suite (pytest goals/) without -k, -m, --lf, --deselect or a file subset",
            judged=judged,
            total=total,
        )
    blocking = [r for r in results if r.blocking]
    advisory = [r for r in results if not r.blocking and r.verdict is not Verdict.PASS]
    note = f" ({_count(len(advisory), 'advisory goal')} did not pass; advisory goals do not block)" if advisory else ""
    preconditions = [r for r in blocking if r.kind is Kind.PRECONDITION and r.verdict is not Verdict.PASS]
    goals = [r for r in blocking if r.kind is not Kind.PRECONDITION]
    if preconditions:
        root = preconditions[0]
        stopped = [r.goal for r in goals if r.verdict is not Verdict.PASS]
        precondition_failed = any(p.verdict is Verdict.FAIL for p in preconditions)
        outcome = (
            Outcome.DO_NOT_PROMOTE
            if precondition_failed or any(r.verdict is Verdict.FAIL for r in goals)
            else Outcome.WAIT
        )
        cause, step = _blocker(root)
        return Decision(
            outcome=outcome,
            headline=f"{cause} ({root.goal}); it blocks {_count(len(stopped), 'goal')}{': ' + ', '.join(stopped) if stopped else ''}{note}",
            cause=root.reason,
            next_step=step,
            blocked_by=root.goal,
            judged=judged,
            total=total,
        )
    failed = [r for r in goals if r.verdict is Verdict.FAIL]
    if failed:
        breached = [r for r in failed if r.kind is Kind.GUARDRAIL]
        missed = [r for r in failed if r.kind is Kind.GOAL]
        parts = []
        if missed:
            parts.append(f"{_count(len(missed), 'goal')} missed ({', '.join(r.goal for r in missed)})")
        if breached:
            parts.append(f"{_count(len(breached), 'guardrail')} breached ({', '.join(r.goal for r in breached)})")
        step = (
            f"roll back: {rollback}" if breached else "the flags do not meet the sprint goals; fix and roll out again"
        )
        return Decision(
            outcome=Outcome.DO_NOT_PROMOTE,
            headline="; ".join(parts) + note,
            cause=None,
            next_step=step,
            judged=judged,
            total=total,
        )
    waiting = [r for r in goals if r.verdict is Verdict.INCONCLUSIVE]
    if waiting:
        # Each goal's own rate: the events it needs over the events its POST window gathered per day.
        needs = [
            (r.more_events_needed * max(days_per_window, 1e-9) / r.post.n, r.goal)
            for r in waiting
            if r.more_events_needed and r.post.n and r.reason_code not in UNREADABLE
        ]
        parts = [f"{_count(len(waiting), 'goal')} not decided yet ({', '.join(r.goal for r in waiting)})"]
        if needs:
            slowest, goal = max(needs)
            parts.append(f"about {slowest:.1f} more days of data would likely decide them ({goal} needs the most)")
        unreadable = [r.goal for r in waiting if r.reason_code in UNREADABLE]
        if unreadable:
            parts.append(f"rows the measures of {', '.join(unreadable)} could not read could explain their result")
        step = "wait for more data, then rerun with the same flip (reruns spend error: see the report)"
        if unreadable:
            step = "fix the event writes that leave rows unreadable (the report counts them by reason), then rerun"
        return Decision(
            outcome=Outcome.WAIT,
            headline="; ".join(parts) + note,
            cause=None,
            next_step=step,
            judged=judged,
            total=total,
        )
    guardrails = sum(1 for r in goals if r.kind is Kind.GUARDRAIL)
    passed = _count(len(goals) - guardrails, "goal") + (f" and {_count(guardrails, 'guardrail')}" if guardrails else "")
    return Decision(
        outcome=Outcome.PROMOTE,
        headline=f"{passed} passed and every precondition holds ({judged} of {total} checks judged){note}",
        cause=None,
        next_step="promote the flags in the change window",
        judged=judged,
        total=total,
    )


def _blocker(root: GoalResult) -> tuple[str, str]:
    return BLOCKERS.get(
        root.reason_code or "", (root.reason.split(". ")[0].rstrip("."), "see the precondition's reason")
    )
