"""The final verdict of a goal: its interval, then everything that can withhold a PASS.

In order: the interval against the target (:func:`sprintgate.verdict.decide`, per limit; every limit
must PASS, any FAIL is a FAIL); for comparisons between windows, the trend already under way in
BASELINE; the rows the goal's measure could not read, each taken as the worst case; the placebo
comparison within one period; the share of rows the goal could not use; the preconditions. Each can only turn a PASS into INCONCLUSIVE; none turns a confident FAIL into anything
else. Then what to do next is added to every non-PASS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sprintgate.config import Thresholds
from sprintgate.design import Clustering
from sprintgate.evidence import Evidence
from sprintgate.goals import Goal
from sprintgate.kinds import Context, Errors, Measurement, Placebo, Test
from sprintgate.preconditions import (
    FLAGS_ENABLED,
    TELEMETRY_PRESENT,
    TELEMETRY_UNDERSTOOD,
    WINDOW_SUFFICIENT,
    WINDOWS_COMPARABLE,
    PreconditionCheck,
)
from sprintgate.results import GoalResult, Kind
from sprintgate.suite import Suite
from sprintgate.units import RATIO, Unit
from sprintgate.verdict import Better, Interval, Verdict, decide


def describe_interval(unit: Unit, interval: Interval, reference: float) -> str:
    """``x0.421 to x0.486 (90 % CI)``; with ends at different confidences, each end's own."""
    low, high = unit.format_against(interval.low, reference), unit.format_against(interval.high, reference)
    if interval.symmetric:
        return f"{low} to {high} ({_pct(interval.level)} interval)"
    return f"{low} (at {_pct(interval.low_confidence)}) to {high} (at {_pct(interval.high_confidence)})"


def _pct(value: float) -> str:
    return f"{100 * value:.4g} %"


@dataclass(frozen=True, slots=True)
class _Call:
    verdict: Verdict
    code: str | None
    reason: str


def _decide_tests(goal: Goal, measurement: Measurement) -> list[tuple[Test, Verdict]]:
    metric = goal.metric
    primary = Test(
        name="primary",
        estimate=measurement.estimate,
        interval=measurement.interval,
        adjusted=measurement.adjusted,
        threshold=measurement.threshold,
        unit=metric.unit,
        better=metric.better,
        worst=measurement.worst,
    )
    out = []
    for test in (primary, *measurement.others):
        assert test.interval is not None
        out.append((test, decide(test.interval, test.threshold, test.better)))
    return out


def _statistics(goal: Goal, measurement: Measurement) -> _Call:
    metric = goal.metric
    if measurement.problem is not None or measurement.interval is None:
        code, why = measurement.problem or ("no_data", "there is no interval")
        return _Call(Verdict.INCONCLUSIVE, code, f"{metric.statistic()}: {why}.")
    decided = _decide_tests(goal, measurement)
    parts = []
    for test, verdict in decided:
        assert test.interval is not None
        side = "under" if test.better is Better.LOWER else "over"
        wrong = "over" if test.better is Better.LOWER else "under"
        shown = f"{test.unit.format_against(test.estimate, test.threshold)} ({describe_interval(test.unit, test.interval, test.threshold)})"
        target = test.unit.format(test.threshold)
        if verdict is Verdict.PASS:
            parts.append(f"{shown}, wholly {side} the limit {target}")
        elif verdict is Verdict.FAIL:
            parts.append(f"{shown}, wholly {wrong} the limit {target}")
        else:
            parts.append(f"{shown}, which straddles the limit {target}")
    verdicts = {v for _, v in decided}
    names = [("" if i == 0 else f"{test.name} ") for i, (test, _) in enumerate(decided)]
    text = f"{metric.statistic()} is " + "; and ".join(n + p for n, p in zip(names, parts, strict=True)) + "."
    if Verdict.FAIL in verdicts:
        return _Call(Verdict.FAIL, "target_missed", text)
    if verdicts == {Verdict.PASS}:
        return _Call(Verdict.PASS, None, text)
    return _Call(Verdict.INCONCLUSIVE, "straddles_target", text)


def _trend_check(goal: Goal, measurement: Measurement) -> _Call | None:
    """Why a PASS of a comparison between windows is withheld by the trend in BASELINE, if it is."""
    trend = measurement.trend
    if trend is None:
        return _Call(
            Verdict.INCONCLUSIVE,
            "trend_unknown",
            "BASELINE has too few time slots with data to tell the flags' effect from a trend already under way",
        )
    for test, _ in _decide_tests(goal, measurement):
        if test.adjusted is None or decide(test.adjusted, test.threshold, test.better) is not Verdict.PASS:
            adjusted = "n/a" if test.adjusted is None else describe_interval(test.unit, test.adjusted, test.threshold)
            return _Call(
                Verdict.INCONCLUSIVE,
                "trend_could_explain",
                f"BASELINE was already moving ({trend.per_day:+.4g} a day in the statistic's working scale); extrapolated "
                f"{trend.days:.1f} days to POST's centre, that trend alone could explain the change: after it, the "
                f"interval is {adjusted}, which does not clear {test.unit.format(test.threshold)}",
            )
    return None


def _unread_check(goal: Goal, measurement: Measurement) -> _Call | None:
    """Why a PASS is withheld by the rows its measure could not read, if it is: the interval moved by
    what those rows could change at worst (each unread row the worst case for the goal) must still
    clear every limit. Data the gate did not understand never makes a PASS."""
    unread = sum(measurement.excluded.values())
    if not unread:
        return None
    for test, _ in _decide_tests(goal, measurement):
        assert test.interval is not None
        moved = _moved(test)
        if moved is None or decide(moved, test.threshold, test.better) is not Verdict.PASS:
            worst = (
                "unbounded"
                if test.worst is None or not math.isfinite(test.worst) or test.worst == 0
                else (test.unit.format_against(test.worst, test.threshold))
            )
            return _Call(
                Verdict.INCONCLUSIVE,
                "unread_rows_could_explain",
                f"{unread:,} rows of this goal's measure could not be read "
                f"({', '.join(f'{k}: {v:,}' for k, v in sorted(measurement.excluded.items()))}); had they been the worst "
                f"case for the goal, the estimate would be {worst}, which does not clear {test.unit.format(test.threshold)}",
            )
    return None


def _moved(test: Test) -> Interval | None:
    """``test``'s interval shifted by what the unread rows could move its estimate (in log scale for
    ratios); ``None`` when nothing bounds that."""
    assert test.interval is not None
    if test.worst is None or test.estimate is None:
        return test.interval if test.worst is None else None
    log_scale = test.unit.name == RATIO.name
    if not math.isfinite(test.worst) or (log_scale and (test.worst <= 0 or test.estimate <= 0)):
        return None
    if log_scale:
        factor = test.worst / test.estimate
        return replace(test.interval, low=test.interval.low * factor, high=test.interval.high * factor)
    shift = test.worst - test.estimate
    return replace(test.interval, low=test.interval.low + shift, high=test.interval.high + shift)


def _excluded_share(measurement: Measurement) -> float:
    excluded = sum(measurement.excluded.values())
    used = measurement.baseline.n + measurement.post.n
    return excluded / (excluded + used) if excluded + used else 0.0


def judge(
    goal: Goal,
    evidence: Evidence,
    *,
    suite: Suite,
    thresholds: Thresholds,
    checks: Mapping[str, PreconditionCheck],
    errors: Errors,
    placebo_family: int,
) -> GoalResult:
    """The final verdict on ``goal``."""
    metric = goal.metric
    clustering = goal.clustering
    if suite.cluster is None and clustering is Clustering.BOTH:
        clustering = Clustering.TIME  # a suite without a cluster column has time clusters only
    context = Context(
        errors=errors, clustering=clustering, min_clusters=thresholds.min_clusters, confidence=thresholds.confidence
    )
    measurement = metric.evaluate(evidence, context)
    call = _statistics(goal, measurement)
    details: dict[str, object] = {
        "threshold": measurement.threshold,
        "look": errors.look,
        "pass_error": errors.passing,
        "fail_error": errors.failing,
        "clustering": clustering.value,
        "needs": sorted({t for types in metric.needs().values() for t in types}),
        "design_effect": {
            w: {"deff": d.deff, "dof": d.dof, "clusters": d.groups, "slots": d.slots}
            for w, d in measurement.design.items()
        },
        **measurement.details,
    }
    if measurement.others:
        details["limits"] = [
            {
                "name": t.name,
                "unit": t.unit.name,
                "estimate": t.estimate,
                "threshold": t.threshold,
                "interval": None if t.interval is None else [t.interval.low, t.interval.high],
            }
            for t in measurement.others
        ]
    if measurement.trend is not None:
        trend = measurement.trend
        details["trend"] = {"shift": trend.shift, "sd": trend.sd, "per_day": trend.per_day, "days": trend.days}
    if measurement.adjusted is not None:
        details["adjusted_interval"] = [measurement.adjusted.low, measurement.adjusted.high]
    if call.verdict is Verdict.PASS and metric.comparison != "level":
        withheld = _trend_check(goal, measurement)
        if withheld is not None:
            call = _Call(withheld.verdict, withheld.code, f"{withheld.reason}. Measured: {call.reason}")
    if call.verdict is Verdict.PASS:
        withheld = _unread_check(goal, measurement)
        if withheld is not None:
            call = _Call(withheld.verdict, withheld.code, f"{withheld.reason}. Measured: {call.reason}")
    if measurement.worst is not None:
        details["worst_case_of_unread_rows"] = measurement.worst
    alpha = thresholds.placebo_alpha / max(1, placebo_family) / 2
    placebo = metric.placebo(evidence, context, alpha)
    if placebo is not None:
        details["placebo"] = _placebo_details(placebo, alpha)
        if placebo.fired and call.verdict is Verdict.PASS:
            call = _Call(
                Verdict.INCONCLUSIVE,
                "placebo_fired",
                f"The same comparison between the two halves of {placebo.period} found a significant change "
                f"({placebo.statistic:.4g}, the {1 - 2 * alpha:.2%} interval excludes {placebo.null:g}): the method is "
                f"miscalibrated for this data, so this PASS is withheld. Measured: {call.reason}",
            )
    share = _excluded_share(measurement)
    if share > thresholds.max_excluded_share and call.verdict is Verdict.PASS:
        call = _Call(
            Verdict.INCONCLUSIVE,
            "too_many_excluded",
            f"{share:.1%} of the rows this goal reads could not be used (more than max_excluded_share "
            f"{thresholds.max_excluded_share:.0%}); what they would say is unknown. Measured: {call.reason}",
        )
    result = GoalResult(
        goal=goal.id,
        kind=goal.kind,
        title=goal.heading(),
        measured=metric.statistic(),
        verdict=call.verdict,
        estimate=measurement.estimate,
        interval=measurement.interval,
        target=measurement.threshold,
        better=metric.better,
        unit=metric.unit,
        value_unit=metric.value_unit,  # type: ignore[attr-defined]
        baseline=measurement.baseline,
        post=measurement.post,
        reason_code=call.code,
        reason=call.reason,
        advisory=goal.advisory,
        excluded_rows=measurement.excluded,
        more_events_needed=measurement.more_events,
        details=details,
    )
    result = apply_preconditions(result, checks)
    return diagnose(result, measurement, evidence, suite)


def _placebo_details(placebo: Placebo, alpha: float) -> dict[str, object]:
    return {
        "period": placebo.period,
        "statistic": placebo.statistic,
        "null": placebo.null,
        "level": 1 - 2 * alpha,
        "fired": placebo.fired,
        "interval": None if placebo.interval is None else [placebo.interval.low, placebo.interval.high],
    }


def apply_preconditions(result: GoalResult, checks: Mapping[str, PreconditionCheck]) -> GoalResult:
    """An unmet precondition turns PASS (or a weaker INCONCLUSIVE) into an INCONCLUSIVE with the
    precondition's reason; a confident FAIL stays FAIL, with the note. A goal whose own sample is too
    small keeps that reason first: it is what to fix."""
    unmet: list[tuple[str, str]] = []
    telemetry = checks[TELEMETRY_PRESENT.name].missing_for.get(result.goal)
    if telemetry:
        unmet.append(("instrumentation_missing", telemetry[0].upper() + telemetry[1:]))
    for precondition in (FLAGS_ENABLED, WINDOW_SUFFICIENT, WINDOWS_COMPARABLE, TELEMETRY_UNDERSTOOD):
        check = checks[precondition.name]
        if not check.met:
            unmet.append((check.result.reason_code or precondition.name, check.result.reason))
    if not unmet:
        return result
    code, why = unmet[0]
    details = {**result.details, "preconditions_unmet": [c for c, _ in unmet]}
    if result.verdict is Verdict.FAIL:
        return replace(result, reason=f"{result.reason} (Also, a precondition is not met: {why})", details=details)
    if result.reason_code in ("insufficient_sample", "too_few_clusters", "no_data") and code not in (
        "instrumentation_missing",
        "flags_off",
        "flags_on_in_baseline",
    ):
        return replace(result, reason=f"{result.reason} (Also: {why})", details=details)
    measured = "" if result.reason_code == "no_data" else f" Measured: {result.reason}"
    return replace(
        result, verdict=Verdict.INCONCLUSIVE, reason_code=code, reason=f"{why.rstrip('.')}.{measured}", details=details
    )


def diagnose(result: GoalResult, measurement: Measurement, evidence: Evidence, suite: Suite) -> GoalResult:
    """What to do next, added to a non-PASS: events for 80 % power, excluded rows, the rollback, and
    event types that vanished in POST while their siblings still arrive."""
    if result.verdict is Verdict.PASS:
        return result
    notes = []
    days = min(evidence.baseline.window.days, evidence.post.window.days)
    if result.more_events_needed:
        per_day = min(result.baseline.n or result.post.n, result.post.n) / days if days else 0
        timing = (
            f" (about {result.more_events_needed / per_day:.1f} more days at the current {per_day:,.0f} a day)"
            if per_day
            else ""
        )
        notes.append(
            f"about {result.more_events_needed:,} more events per window{timing} give an 80 % chance to decide it at the next "
            "run, if the effect is as observed"
        )
    if measurement.detectable is not None and result.reason_code == "straddles_target":
        notes.append(
            f"this sample PASSes with 80 % power only if the true value is {result.unit.format(measurement.detectable)} or better"
        )
    if result.excluded_rows:
        listed = ", ".join(
            f"{n:,} {reason}" for reason, n in sorted(result.excluded_rows.items(), key=lambda kv: -kv[1])
        )
        notes.append(f"{sum(result.excluded_rows.values()):,} rows were excluded as unusable ({listed})")
    if result.kind is Kind.GUARDRAIL and result.verdict is Verdict.FAIL:
        notes.append(f"the guardrail is breached with confidence: roll back ({suite.rollback})")
    vanished = _vanished(result, evidence)
    if vanished:
        notes.append(vanished)
    if not notes:
        return result
    return replace(
        result, reason=f"{result.reason.rstrip('.')}. " + "; ".join(n[0].upper() + n[1:] for n in notes) + "."
    )


def _vanished(result: GoalResult, evidence: Evidence) -> str | None:
    types = result.details.get("needs")
    if not isinstance(types, list | tuple):
        return None
    gone = [t for t in types if evidence.baseline.count(t) >= 20 and evidence.post.count(t) == 0]
    still = [t for t in types if evidence.post.count(t) > 0]
    if gone and still:
        return (
            f"{', '.join(gone)} disappeared in POST (BASELINE: {sum(evidence.baseline.count(t) for t in gone):,}) while "
            f"{', '.join(still)} still arrive: the code path may end before it writes {'them' if len(gone) > 1 else 'it'}"
        )
    return None
