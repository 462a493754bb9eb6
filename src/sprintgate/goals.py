"""Goals and how they are judged: a metric, a target, the one decision rule, and the preconditions.

A goal module in ``goals/`` declares a :class:`Goal`; :func:`judge` measures it on the evidence of
both windows, decides with :func:`sprintgate.verdict.decide`, and then applies the preconditions:
a precondition that is not met turns a PASS into INCONCLUSIVE, never a confident FAIL into anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from sprintgate import contract, stats
from sprintgate.evidence import Proportion, WindowEvidence
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.verdict import Better, Verdict, decide


@dataclass(frozen=True, slots=True, kw_only=True)
class Judging:
    """How to judge: the confidence level, the bootstrap seed and the precondition thresholds."""

    confidence: float = 0.90
    seed: int = stats.DEFAULT_SEED
    min_window_days: float = 7.0
    min_coverage: float = 0.9
    flag_share: float = 0.99


@dataclass(frozen=True, slots=True)
class Evidence:
    """Both windows."""

    baseline: WindowEvidence
    post: WindowEvidence

    def window(self, name: str) -> WindowEvidence:
        return self.baseline if name == "BASELINE" else self.post


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a metric measured: the statistic with its interval, and the value in each window."""

    estimate: stats.Estimate
    baseline: Observation
    post: Observation
    excluded: Mapping[str, int]


class Metric(Protocol):
    """A statistic of the evidence, with the direction that is good and what it needs."""

    @property
    def better(self) -> Better: ...

    @property
    def statistic(self) -> str: ...

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        """Per window (``BASELINE``, ``POST``) the event types without which it cannot be measured."""
        ...

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement: ...

    def threshold(self, target: float) -> float:
        """Where the decision rule draws the line, for a configured target."""
        ...

    def describe(self, value: float) -> str: ...

    def minimum_sample(self, judging: Judging) -> int: ...


def _both(types: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"BASELINE": types, "POST": types}


def _excluded(evidence: Evidence, measure: str) -> dict[str, int]:
    merged: dict[str, int] = {}
    for window in ("BASELINE", "POST"):
        for reason, count in evidence.window(window).excluded.get(measure, {}).items():
            merged[f"{window.lower()}.{reason}"] = count
    return merged


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


@dataclass(frozen=True, slots=True)
class QuantileRatio:
    """``quantile(POST) / quantile(BASELINE)`` of a duration, with the rank bootstrap."""

    measure: str
    q: float = 0.95
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"p{round(100 * self.q)} {self.measure} POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both(contract.DURATION_SOURCES[self.measure])

    def measure_in(self, window: WindowEvidence) -> Observation:
        histogram = window.durations[self.measure]
        return Observation(histogram.quantile(self.q) if histogram.n else None, histogram.n)

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = evidence.post.durations[self.measure], evidence.baseline.durations[self.measure]
        estimate = stats.quantile_ratio_interval(post, base, self.q, judging.confidence, seed=judging.seed)
        return Measurement(
            estimate,
            self.measure_in(evidence.baseline),
            self.measure_in(evidence.post),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return target

    def describe(self, value: float) -> str:
        return f"{value:.3f}"

    def minimum_sample(self, judging: Judging) -> int:
        return stats.minimum_sample_for_quantile(self.q, judging.confidence)


@dataclass(frozen=True, slots=True)
class QuantileBudget:
    """``quantile(POST)`` of a duration against an absolute budget, with the order-statistic interval."""

    measure: str
    q: float = 0.95
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"p{round(100 * self.q)} {self.measure} in POST (ms)"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": contract.DURATION_SOURCES[self.measure]}

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        ratio = QuantileRatio(self.measure, self.q)
        estimate = stats.quantile_interval(evidence.post.durations[self.measure], self.q, judging.confidence)
        return Measurement(
            estimate,
            ratio.measure_in(evidence.baseline),
            ratio.measure_in(evidence.post),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return target

    def describe(self, value: float) -> str:
        return _ms(value)

    def minimum_sample(self, judging: Judging) -> int:
        return stats.minimum_sample_for_quantile(self.q, judging.confidence)


@dataclass(frozen=True, slots=True)
class MeanRatio:
    """``mean(POST) / mean(BASELINE)`` with the booking as the unit (delta method)."""

    measure: str = "attempts_per_booking"
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"mean {self.measure} POST / BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both((contract.ATTEMPT,))

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = evidence.post.attempts_per_booking.moments(), evidence.baseline.attempts_per_booking.moments()
        estimate = stats.mean_ratio_interval(post, base, judging.confidence)
        return Measurement(
            estimate,
            Observation(base.mean if base.n else None, base.n),
            Observation(post.mean if post.n else None, post.n),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return target

    def describe(self, value: float) -> str:
        return f"{value:.3f}"

    def minimum_sample(self, judging: Judging) -> int:
        return 2


#: Per rate: the evidence field that holds it and the event types it is counted over.
_PROPORTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cache_hit": ("cache_hit", (contract.QUOTE,)),
    "quote_error": ("quote_error", (contract.QUOTE,)),
    "job_success": ("job_success", contract.JOB_OUTCOMES),
    "inline_timeout": ("inline_timeout", contract.INLINE_OUTCOMES),
}


def _proportion(window: WindowEvidence, measure: str) -> Proportion:
    value = getattr(window, _PROPORTIONS[measure][0])
    assert isinstance(value, Proportion)
    return value


@dataclass(frozen=True, slots=True)
class ProportionCeiling:
    """A rate in POST against a ceiling, with Wilson's interval."""

    measure: str
    better: Better = Better.LOWER

    @property
    def statistic(self) -> str:
        return f"{self.measure} rate in POST"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return {"POST": _PROPORTIONS[self.measure][1]}

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = _proportion(evidence.post, self.measure), _proportion(evidence.baseline, self.measure)
        return Measurement(
            stats.wilson_interval(post.hits, post.n, judging.confidence),
            Observation(base.rate, base.n),
            Observation(post.rate, post.n),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return target

    def describe(self, value: float) -> str:
        return _pct(value)

    def minimum_sample(self, judging: Judging) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class ProportionChange:
    """``rate(POST) - rate(BASELINE)`` against a non-inferiority margin, with Newcombe's interval.

    The target is the margin in rate units (0.05 = 5 points); which way is worse follows ``better``.
    """

    measure: str
    better: Better

    @property
    def statistic(self) -> str:
        return f"{self.measure} rate POST - BASELINE"

    def needs(self) -> Mapping[str, tuple[str, ...]]:
        return _both(_PROPORTIONS[self.measure][1])

    def evaluate(self, evidence: Evidence, judging: Judging) -> Measurement:
        post, base = _proportion(evidence.post, self.measure), _proportion(evidence.baseline, self.measure)
        return Measurement(
            stats.proportion_difference_interval(post.hits, post.n, base.hits, base.n, judging.confidence),
            Observation(base.rate, base.n),
            Observation(post.rate, post.n),
            _excluded(evidence, self.measure),
        )

    def threshold(self, target: float) -> float:
        return -target if self.better is Better.HIGHER else target

    def describe(self, value: float) -> str:
        return f"{100 * value:+.1f} points"

    def minimum_sample(self, judging: Judging) -> int:
        return 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """One goal of the rollout, as a module in ``goals/`` declares it."""

    id: str
    kind: Kind
    title: str
    text: str
    metric: Metric
    target: float

    def with_target(self, target: float) -> Goal:
        return Goal(id=self.id, kind=self.kind, title=self.title, text=self.text, metric=self.metric, target=target)


@dataclass(frozen=True, slots=True)
class PreconditionCheck:
    """A precondition's own result and, per goal, whether it holds for that goal."""

    result: GoalResult
    missing_for: Mapping[str, str] = field(default_factory=dict)  # goal id -> reason (telemetry only)

    @property
    def met(self) -> bool:
        return self.result.verdict is Verdict.PASS


def _more_events(measurement: Measurement, threshold: float, better: Better, n: int, log_scale: bool) -> int | None:
    """Roughly how many more events per window would likely give a decision: the interval narrows
    as 1/sqrt(n), so it needs (half width / distance to the threshold)^2 times the sample."""
    interval, point = measurement.estimate.interval, measurement.estimate.statistic
    if interval is None or point is None or n == 0:
        return None

    def transform(value: float) -> float:
        return math.log(max(value, 1e-12)) if log_scale else value

    distance = abs(transform(point) - transform(threshold))
    side = interval.high if (point <= threshold) == (better is Better.LOWER) else interval.low
    half_width = abs(transform(side) - transform(point))
    if distance == 0 or half_width == 0:
        return None
    return max(0, math.ceil(n * (half_width / distance) ** 2) - n)


def judge_statistics(goal: Goal, evidence: Evidence, judging: Judging) -> GoalResult:
    """The verdict of ``goal`` from its interval alone, before preconditions."""
    metric = goal.metric
    measurement = metric.evaluate(evidence, judging)
    threshold = metric.threshold(goal.target)
    estimate = measurement.estimate
    n = min(measurement.baseline.n, measurement.post.n) if "BASELINE" in metric.needs() else measurement.post.n

    def result(verdict: Verdict, reason_code: str | None, reason: str, more: int | None = None) -> GoalResult:
        return GoalResult(
            goal=goal.id,
            kind=goal.kind,
            title=goal.title,
            statistic=metric.statistic,
            verdict=verdict,
            estimate=estimate.statistic,
            interval=estimate.interval,
            target=goal.target,
            baseline=measurement.baseline,
            post=measurement.post,
            reason_code=reason_code,
            reason=reason,
            excluded_rows=measurement.excluded,
            more_events_needed=more,
        )

    if estimate.statistic is None:
        empty = [w for w in metric.needs() if (measurement.baseline if w == "BASELINE" else measurement.post).n == 0]
        plural = "s" if len(empty) > 1 else ""
        return result(
            Verdict.INCONCLUSIVE,
            "no_data",
            f"No usable values for {metric.statistic} in the {' and '.join(empty)} window{plural}.",
        )
    if estimate.interval is None:
        needed = metric.minimum_sample(judging)
        return result(
            Verdict.INCONCLUSIVE,
            "insufficient_sample",
            f"{metric.describe(estimate.statistic)} from too small a sample for a finite "
            f"{judging.confidence:.0%} interval: n = {n}, at least {needed} per window needed.",
            max(0, needed - n),
        )
    verdict = decide(estimate.interval, threshold, metric.better)
    interval = estimate.interval
    shown = (
        f"{metric.describe(estimate.statistic)} ({interval.level:.0%} CI "
        f"{metric.describe(interval.low)} to {metric.describe(interval.high)})"
    )
    limit = metric.describe(threshold)
    if verdict is Verdict.PASS:
        return result(verdict, None, f"{shown}: the whole interval is on the good side of {limit}.")
    if verdict is Verdict.FAIL:
        return result(verdict, "target_missed", f"{shown}: the whole interval is on the wrong side of {limit}.")
    more = _more_events(measurement, threshold, metric.better, n, isinstance(metric, QuantileRatio | MeanRatio))
    hint = f"; about {more:,} more events per window would likely decide it" if more else ""
    return result(verdict, "straddles_target", f"{shown} straddles {limit}{hint}.", more)


# -- preconditions ---------------------------------------------------------------------------------

FLAGS_ENABLED = "flags_enabled"
TELEMETRY_PRESENT = "telemetry_present"
WINDOW_SUFFICIENT = "window_sufficient"
PRECONDITIONS = (FLAGS_ENABLED, TELEMETRY_PRESENT, WINDOW_SUFFICIENT)

NOTHING_OBSERVED = Observation(None, 0)

PRECONDITION_TITLES = {
    FLAGS_ENABLED: "Flags on in POST, off in BASELINE",
    TELEMETRY_PRESENT: "Telemetry present in both windows",
    WINDOW_SUFFICIENT: "Windows long enough and of equal length",
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
    details = {"baseline_days": base.days, "post_days": post.days}
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


def check_preconditions(evidence: Evidence, goals: Sequence[Goal], judging: Judging) -> dict[str, PreconditionCheck]:
    return {
        TELEMETRY_PRESENT: check_telemetry(evidence, goals),
        FLAGS_ENABLED: check_flags(evidence, judging),
        WINDOW_SUFFICIENT: check_windows(evidence, judging),
    }


def apply_preconditions(result: GoalResult, checks: Mapping[str, PreconditionCheck]) -> GoalResult:
    """A goal's final verdict: an unmet precondition turns PASS (or a weaker INCONCLUSIVE) into an
    INCONCLUSIVE with the precondition's reason; a confident FAIL stays FAIL, with the note."""
    unmet: list[tuple[str, str]] = []
    telemetry = checks[TELEMETRY_PRESENT].missing_for.get(result.goal)
    if telemetry:
        unmet.append(("instrumentation_missing", telemetry[0].upper() + telemetry[1:]))
    for name in (FLAGS_ENABLED, WINDOW_SUFFICIENT):
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


def judge(goal: Goal, evidence: Evidence, judging: Judging, checks: Mapping[str, PreconditionCheck]) -> GoalResult:
    """The final verdict on ``goal``."""
    return apply_preconditions(judge_statistics(goal, evidence, judging), checks)
