"""Preconditions, the placebo check, and the final verdict of a goal.

A precondition that is not met turns a PASS into INCONCLUSIVE with its reason, never a confident FAIL
into anything else. The placebo run applies each goal's comparison to the two halves of BASELINE: a
significant change between two halves of the same period means the method is miscalibrated for this
data, and that goal's PASS becomes INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TypeVar

from sprintgate import contract
from sprintgate.evidence import Evidence, WindowEvidence
from sprintgate.goals import Goal, Judging, judge_statistics, placebo_estimate
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.verdict import Verdict

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class PreconditionCheck:
    """A precondition's own result and, per goal, whether it holds for that goal."""

    result: GoalResult
    missing_for: Mapping[str, str] = field(default_factory=dict)  # goal id -> reason (telemetry only)

    @property
    def met(self) -> bool:
        return self.result.verdict is Verdict.PASS


FLAGS_ENABLED = "flags_enabled"
TELEMETRY_PRESENT = "telemetry_present"
WINDOW_SUFFICIENT = "window_sufficient"
WINDOWS_COMPARABLE = "windows_comparable"
PRECONDITIONS = (FLAGS_ENABLED, TELEMETRY_PRESENT, WINDOW_SUFFICIENT, WINDOWS_COMPARABLE)

NOTHING_OBSERVED = Observation(None, 0)

PRECONDITION_TITLES = {
    FLAGS_ENABLED: "Flags on in POST, off in BASELINE",
    TELEMETRY_PRESENT: "Telemetry present in both windows",
    WINDOW_SUFFICIENT: "Windows long enough, of equal length, closed and complete",
    WINDOWS_COMPARABLE: "BASELINE and POST comparable (volume, weekday/hour, reason and restaurant mix)",
}


def _precondition(
    name: str,
    verdict: Verdict,
    reason_code: str | None,
    reason: str,
    *,
    estimate: float | None = None,
    target: float | None = None,
    baseline: Observation = NOTHING_OBSERVED,
    post: Observation = NOTHING_OBSERVED,
    details: Mapping[str, object] | None = None,
) -> GoalResult:
    return GoalResult(
        goal=name,
        kind=Kind.PRECONDITION,
        title=PRECONDITION_TITLES[name],
        statistic=name,
        verdict=verdict,
        estimate=estimate,
        interval=None,
        target=target,
        baseline=baseline,
        post=post,
        reason_code=reason_code,
        reason=reason,
        details=dict(details or {}),
    )


def check_flags(evidence: Evidence, judging: Judging) -> PreconditionCheck:
    """POST events carry both flags on and BASELINE events carry them off (among events with flags)."""

    def share(window: WindowEvidence, state: str) -> tuple[float | None, int]:
        carrying = sum(window.flags.get(s, 0) for s in ("on", "off", "mixed"))
        return (window.flags.get(state, 0) / carrying if carrying else None), carrying

    post_on, post_n = share(evidence.post, "on")
    base_off, base_n = share(evidence.baseline, "off")
    details = {"baseline": dict(evidence.baseline.flags), "post": dict(evidence.post.flags)}
    observations = {"baseline": Observation(base_off, base_n), "post": Observation(post_on, post_n)}
    flags = " and ".join(contract.FLAG_NAMES)
    if post_on is None or post_on < judging.flag_share:
        seen = (
            "no POST event carries the flags"
            if post_on is None
            else f"only {post_on:.1%} of {post_n:,} POST events that carry flags have both on"
        )
        return PreconditionCheck(
            _precondition(
                FLAGS_ENABLED,
                Verdict.FAIL,
                "flags_off",
                f"Flag off vs flag still off: {seen} (need {judging.flag_share:.0%}); confirm the deployment enables {flags} before judging.",
                estimate=post_on,
                target=judging.flag_share,
                details=details,
                **observations,
            )
        )
    if base_off is not None and base_off < judging.flag_share:
        return PreconditionCheck(
            _precondition(
                FLAGS_ENABLED,
                Verdict.FAIL,
                "flags_on_in_baseline",
                f"BASELINE is not a flag-off window: only {base_off:.1%} of {base_n:,} BASELINE events that carry flags have both off; move the BASELINE window before the flip.",
                estimate=post_on,
                target=judging.flag_share,
                details=details,
                **observations,
            )
        )
    return PreconditionCheck(
        _precondition(
            FLAGS_ENABLED,
            Verdict.PASS,
            None,
            f"{post_on:.1%} of {post_n:,} POST events carry both flags on"
            + (
                f"; {base_off:.1%} of {base_n:,} BASELINE events carry them off."
                if base_off is not None
                else "; BASELINE events predate the flags."
            ),
            estimate=post_on,
            target=judging.flag_share,
            details=details,
            **observations,
        )
    )


def _event_name(types: tuple[str, ...]) -> str:
    if len(types) == 1:
        return types[0]
    family = types[0].rsplit(".", 1)[0]
    return f"{family}.* ({', '.join(t.rsplit('.', 1)[1] for t in types)})"


def check_telemetry(evidence: Evidence, goals: Sequence[Goal]) -> PreconditionCheck:
    """Every event type a goal needs has events in the windows it needs them in."""
    missing_for: dict[str, str] = {}
    gaps: dict[str, dict[str, list[str]]] = {}  # event name -> window -> goal ids
    for goal in goals:
        empty: dict[str, list[str]] = {}
        for window, types in goal.metric.needs().items():
            if evidence.window(window).count(*types) == 0:
                empty.setdefault(_event_name(types), []).append(window)
                gaps.setdefault(_event_name(types), {}).setdefault(window, []).append(goal.id)
        if empty:
            missing_for[goal.id] = "instrumentation missing: " + "; ".join(
                f"no {name} events in the {' and '.join(windows)} window{'s' if len(windows) > 1 else ''}"
                for name, windows in empty.items()
            )
    if not gaps:
        return PreconditionCheck(
            _precondition(
                TELEMETRY_PRESENT, Verdict.PASS, None, "Every event type the goals need has events in both windows."
            )
        )
    listed = "; ".join(
        f"no {name} events in the {window} window (needed by {', '.join(ids)})"
        for name, windows in gaps.items()
        for window, ids in windows.items()
    )
    return PreconditionCheck(
        _precondition(
            TELEMETRY_PRESENT,
            Verdict.FAIL,
            "instrumentation_missing",
            f"Instrumentation missing: {listed}; fix the event writes, then rerun.",
            estimate=float(sum(len(w) for w in gaps.values())),
            details={"missing": [f"{name}@{window}" for name, windows in gaps.items() for window in windows]},
        ),
        missing_for,
    )


def check_windows(evidence: Evidence, judging: Judging) -> PreconditionCheck:
    """Both windows span at least the minimum, have equal length, and their data covers them."""
    base, post = evidence.baseline.window, evidence.post.window
    problems = []
    for name, window in (("BASELINE", base), ("POST", post)):
        if window.days < judging.min_window_days:
            problems.append(
                (
                    "window_too_short",
                    f"the {name} window spans {window.days:.2f} days, "
                    f"{judging.min_window_days - window.days:.2f} fewer than the {judging.min_window_days:g} required",
                )
            )
    if abs(base.days - post.days) > 1 / 24:
        problems.append(("windows_unequal", f"BASELINE spans {base.days:.2f} days but POST {post.days:.2f}"))
    for name, window_evidence in (("BASELINE", evidence.baseline), ("POST", evidence.post)):
        first, last = window_evidence.first_at, window_evidence.last_at
        covered = 0.0 if first is None or last is None else (last - first).total_seconds() / 86400
        if covered < judging.min_coverage * window_evidence.window.days:
            problems.append(
                (
                    "window_not_covered",
                    f"events in the {name} window cover only {covered:.2f} of its "
                    f"{window_evidence.window.days:.2f} days",
                )
            )
    if evidence.checked_at is not None:
        slack = timedelta(hours=judging.late_slack_hours)
        if post.end + slack > evidence.checked_at:
            problems.append(
                (
                    "window_not_closed",
                    f"the POST window ends {post.end.isoformat()}, which is not yet "
                    f"{judging.late_slack_hours:g} h in the past (database clock {evidence.checked_at.isoformat(timespec='seconds')})",
                )
            )
        elif evidence.newest_event_at is None or evidence.newest_event_at < post.end + slack:
            newest = (
                "none" if evidence.newest_event_at is None else evidence.newest_event_at.isoformat(timespec="seconds")
            )
            problems.append(
                (
                    "data_not_complete",
                    f"the newest event ({newest}) is not yet {judging.late_slack_hours:g} h past the "
                    "end of POST, so late events may still arrive",
                )
            )
    details = {
        "baseline_days": base.days,
        "post_days": post.days,
        "newest_event_at": None if evidence.newest_event_at is None else evidence.newest_event_at.isoformat(),
    }
    if problems:
        return PreconditionCheck(
            _precondition(
                WINDOW_SUFFICIENT,
                Verdict.INCONCLUSIVE,
                problems[0][0],
                "Not enough time to judge: "
                + "; ".join(p for _, p in problems)
                + ". Wait for more data or widen the windows.",
                estimate=min(base.days, post.days),
                target=judging.min_window_days,
                details=details,
            )
        )
    return PreconditionCheck(
        _precondition(
            WINDOW_SUFFICIENT,
            Verdict.PASS,
            None,
            f"Both windows span {base.days:g} days (minimum {judging.min_window_days:g}) and their events cover them.",
            estimate=min(base.days, post.days),
            target=judging.min_window_days,
            details=details,
        )
    )


def total_variation(a: Mapping[K, int], b: Mapping[K, int]) -> float | None:
    """Half the L1 distance between two count distributions (0 = same mix, 1 = disjoint)."""
    na, nb = sum(a.values()), sum(b.values())
    if na == 0 or nb == 0:
        return None
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def _fold(counts: Mapping[int, int], key: Callable[[int], int]) -> dict[int, int]:
    folded: dict[int, int] = {}
    for hour, n in counts.items():
        folded[key(hour)] = folded.get(key(hour), 0) + n
    return folded


def _top(counts: Mapping[str, int], other: Mapping[str, int], size: int = 20) -> tuple[dict[str, int], dict[str, int]]:
    """Both distributions over the ``size`` largest keys overall plus "(other)": thousands of small
    restaurants would otherwise turn sampling noise into distance."""
    largest = {
        k
        for k, _ in sorted(
            ((k, counts.get(k, 0) + other.get(k, 0)) for k in set(counts) | set(other)), key=lambda kv: -kv[1]
        )[:size]
    }

    def keep(c: Mapping[str, int]) -> dict[str, int]:
        kept = {k: v for k, v in c.items() if k in largest}
        kept["(other)"] = sum(v for k, v in c.items() if k not in largest)
        return kept

    return keep(counts), keep(other)


def check_comparable(evidence: Evidence, judging: Judging) -> PreconditionCheck:
    """BASELINE and POST see the same demand: volume per day, weekday and hour mix, reasonCode mix of
    failed attempts, and restaurant mix do not differ beyond the configured bounds."""
    base, post = evidence.baseline, evidence.post
    demand_base, demand_post = base.count(*contract.DEMAND_EVENTS), post.count(*contract.DEMAND_EVENTS)
    measured: dict[str, float | None] = {
        "volume_ratio": (demand_post / post.window.days) / (demand_base / base.window.days)
        if demand_base and demand_post
        else None,
        "hour_of_day": total_variation(
            _fold(base.demand_by_hour, lambda h: h % 24), _fold(post.demand_by_hour, lambda h: h % 24)
        ),
        "weekday": total_variation(
            _fold(base.demand_by_hour, lambda h: h // 24), _fold(post.demand_by_hour, lambda h: h // 24)
        ),
        "reason_mix": total_variation(
            {k: v for k, v in base.attempt_reasons.items() if k != "(none)"},
            {k: v for k, v in post.attempt_reasons.items() if k != "(none)"},
        ),
        "restaurant_mix": total_variation(*_top(base.demand_by_restaurant, post.demand_by_restaurant)),
    }
    bounds = {
        "hour_of_day": judging.max_mix_distance,
        "weekday": judging.max_mix_distance,
        "reason_mix": judging.max_reason_distance,
        "restaurant_mix": judging.max_restaurant_distance,
    }
    problems = []
    ratio = measured["volume_ratio"]
    if ratio is not None and not 1 / judging.max_volume_ratio <= ratio <= judging.max_volume_ratio:
        problems.append(f"demand per day changed by a factor {ratio:.2f} (bound {judging.max_volume_ratio:g})")
    for name, bound in bounds.items():
        distance = measured[name]
        if distance is not None and distance > bound:
            problems.append(
                f"the {name.replace('_', ' ')} differs by {distance:.1%} total variation (bound {bound:.0%})"
            )
    details = dict(measured)
    if problems:
        return PreconditionCheck(
            _precondition(
                WINDOWS_COMPARABLE,
                Verdict.INCONCLUSIVE,
                "windows_not_comparable",
                "BASELINE and POST are not comparable: "
                + "; ".join(problems)
                + ". Pick windows with the same weekdays and traffic, or widen them.",
                estimate=max((v for k, v in measured.items() if k != "volume_ratio" and v is not None), default=None),
                target=judging.max_mix_distance,
                details=details,
            )
        )
    return PreconditionCheck(
        _precondition(
            WINDOWS_COMPARABLE,
            Verdict.PASS,
            None,
            "Demand volume, weekday and hour mix, reason mix and restaurant mix are within bounds"
            + (f" (volume ratio {ratio:.2f})." if ratio is not None else "."),
            estimate=max((v for k, v in measured.items() if k != "volume_ratio" and v is not None), default=None),
            target=judging.max_mix_distance,
            details=details,
        )
    )


def check_preconditions(evidence: Evidence, goals: Sequence[Goal], judging: Judging) -> dict[str, PreconditionCheck]:
    return {
        TELEMETRY_PRESENT: check_telemetry(evidence, goals),
        FLAGS_ENABLED: check_flags(evidence, judging),
        WINDOW_SUFFICIENT: check_windows(evidence, judging),
        WINDOWS_COMPARABLE: check_comparable(evidence, judging),
    }


def apply_preconditions(result: GoalResult, checks: Mapping[str, PreconditionCheck]) -> GoalResult:
    """A goal's final verdict: an unmet precondition turns PASS (or a weaker INCONCLUSIVE) into an
    INCONCLUSIVE with the precondition's reason; a confident FAIL stays FAIL, with the note."""
    unmet: list[tuple[str, str]] = []
    telemetry = checks[TELEMETRY_PRESENT].missing_for.get(result.goal)
    if telemetry:
        unmet.append(("instrumentation_missing", telemetry[0].upper() + telemetry[1:]))
    for name in (FLAGS_ENABLED, WINDOW_SUFFICIENT, WINDOWS_COMPARABLE):
        check = checks[name]
        if not check.met:
            unmet.append((check.result.reason_code or name, check.result.reason))
    if not unmet:
        return result
    code, why = unmet[0]
    if result.verdict is Verdict.FAIL:
        return replace(result, reason=f"{result.reason} (Also, precondition not met: {why})")
    measured = "" if result.reason_code == "no_data" else f" Measured: {result.reason}"
    return replace(result, verdict=Verdict.INCONCLUSIVE, reason_code=code, reason=f"{why.rstrip('.')}.{measured}")


def placebo(goal: Goal, evidence: Evidence, judging: Judging, family_size: int) -> dict[str, object] | None:
    """The same comparison between the two halves of BASELINE, at a Bonferroni level that keeps the
    chance of any goal's placebo firing on well-behaved data at ``placebo_alpha``."""
    if evidence.baseline_halves is None:
        return None
    level = 1 - judging.placebo_alpha / max(1, family_size)
    estimate, null = placebo_estimate(goal.metric, *evidence.baseline_halves, level, judging.seed)
    interval = estimate.interval
    fired = interval is not None and not interval.contains(null)
    return {
        "level": level,
        "statistic": estimate.statistic,
        "null": null,
        "fired": fired,
        "ci": None if interval is None else [interval.low, interval.high],
    }


def _diagnosed(result: GoalResult, evidence: Evidence) -> GoalResult:
    """Add what to do next to a non-PASS: days at the current rate, exclusions, rollback, and the
    inline success events that vanish while attempts still report success."""
    if result.verdict is Verdict.PASS:
        return result
    notes = []
    if result.more_events_needed:
        days = min(evidence.baseline.window.days, evidence.post.window.days)
        per_day = min(result.baseline.n or result.post.n, result.post.n) / days if days else 0
        if per_day:
            notes.append(
                f"at the current rate of about {per_day:,.0f} events a day that is about "
                f"{result.more_events_needed / per_day:.1f} more days per window"
            )
    if result.excluded_rows:
        listed = ", ".join(
            f"{n:,} {reason}" for reason, n in sorted(result.excluded_rows.items(), key=lambda kv: -kv[1])
        )
        notes.append(f"{sum(result.excluded_rows.values()):,} malformed rows were excluded ({listed})")
    if result.kind is Kind.GUARDRAIL and result.verdict is Verdict.FAIL:
        notes.append(
            f"the guardrail is breached with confidence: roll back with {contract.ROLLBACK}, as the rollout document says"
        )
    if result.goal in ("inline_timeout_rate", "inline_p95_budget"):
        vanished = inline_success_vanished(evidence)
        if vanished:
            notes.append(vanished)
    if not notes:
        return result
    return replace(
        result, reason=f"{result.reason.rstrip('.')}. " + "; ".join(n[0].upper() + n[1:] for n in notes) + "."
    )


def inline_success_vanished(evidence: Evidence) -> str | None:
    """The inconsistency the rollout document observed: no inline success events in POST although
    BASELINE had them and attempts in POST still report success."""
    base = evidence.baseline.count(contract.INLINE_SUCCEEDED)
    post = evidence.post.count(contract.INLINE_SUCCEEDED)
    other = evidence.post.count(contract.INLINE_TIMEOUT, contract.INLINE_FAILED)
    succeeded_attempts = evidence.post.attempt_success.hits
    if post == 0 and other > 0 and (base > 0 or succeeded_attempts > 0):
        return (
            f"inline success events disappeared: 0 {contract.INLINE_SUCCEEDED} in POST (BASELINE: {base:,}) while "
            f"{other:,} inline runs timed out or failed and {succeeded_attempts:,} attempts report success; the inline "
            "flow may abort before it sends its success event"
        )
    return None


def judge(
    goal: Goal, evidence: Evidence, judging: Judging, checks: Mapping[str, PreconditionCheck], family_size: int = 1
) -> GoalResult:
    """The final verdict on ``goal``: its interval, then the placebo check, then the preconditions."""
    result = judge_statistics(goal, evidence, judging)
    check = placebo(goal, evidence, judging, family_size)
    if check is not None:
        result = replace(result, details={**result.details, "placebo": check})
        if check["fired"] and result.verdict is Verdict.PASS:
            result = replace(
                result,
                verdict=Verdict.INCONCLUSIVE,
                reason_code="placebo_fired",
                reason=(
                    f"The same comparison between the two halves of BASELINE found a significant change "
                    f"({check['statistic']:.4g}, {check['level']:.2%} CI excludes {check['null']:g}): the method is "
                    f"miscalibrated for this data, so this PASS is withheld. Measured: {result.reason}"
                ),
            )
    return _diagnosed(apply_preconditions(result, checks), evidence)
