"""Preconditions: what must hold before any goal can PASS.

- ``flags_enabled``: POST events carry every flag on, BASELINE events carry them off;
- ``telemetry_present``: every event type a goal needs has events in the windows it needs;
- ``window_sufficient``: both windows long enough, of equal length, covered, closed and complete;
- ``windows_comparable``: both windows saw the same demand (volume, time of day, weekday, cluster
  and declared mixes), beyond what sampling alone would move;
- ``telemetry_understood``: every row of the windows was used or counted under a reason, no id is
  duplicated, and rows the gate cannot classify are few.

A precondition that is not met turns a PASS into INCONCLUSIVE with its reason (flags off and missing
instrumentation are FAILs of the precondition itself); it never turns a confident FAIL into anything
else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TypeVar

import numpy as np

from sprintgate.config import Thresholds
from sprintgate.evidence import Evidence, WindowEvidence
from sprintgate.goals import Goal
from sprintgate.results import NOTHING, GoalResult, Kind, Observation
from sprintgate.suite import Suite
from sprintgate.units import PERCENT, Unit, count_unit
from sprintgate.verdict import Better, Verdict

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Precondition:
    """A precondition as a goal module names it: ``PRECONDITION = FLAGS_ENABLED``."""

    name: str
    title: str


FLAGS_ENABLED = Precondition("flags_enabled", "Flags on in POST, off in BASELINE")
TELEMETRY_PRESENT = Precondition("telemetry_present", "Telemetry present in both windows")
WINDOW_SUFFICIENT = Precondition("window_sufficient", "Windows long enough, of equal length, closed and complete")
WINDOWS_COMPARABLE = Precondition(
    "windows_comparable", "BASELINE and POST comparable (volume, time of day, weekday, mixes)"
)
TELEMETRY_UNDERSTOOD = Precondition(
    "telemetry_understood", "Every row used or counted under a reason; no duplicate ids"
)
PRECONDITIONS = (FLAGS_ENABLED, TELEMETRY_PRESENT, WINDOW_SUFFICIENT, WINDOWS_COMPARABLE, TELEMETRY_UNDERSTOOD)
BY_NAME = {p.name: p for p in PRECONDITIONS}
DAYS = Unit(name="days", decimals=1, suffix=" days", spelled=("days", "d"))
ROWS = count_unit("rows")


@dataclass(frozen=True, slots=True)
class PreconditionCheck:
    """A precondition's own result and, per goal, whether it holds for that goal."""

    result: GoalResult
    missing_for: Mapping[str, str] = field(default_factory=dict)  # goal id -> reason (telemetry only)

    @property
    def met(self) -> bool:
        return self.result.verdict is Verdict.PASS


def _result(
    check: Precondition,
    verdict: Verdict,
    reason_code: str | None,
    reason: str,
    *,
    unit: Unit = PERCENT,
    estimate: float | None = None,
    target: float | None = None,
    better: Better | None = None,
    baseline: Observation = NOTHING,
    post: Observation = NOTHING,
    details: Mapping[str, object] | None = None,
) -> GoalResult:
    return GoalResult(
        goal=check.name,
        kind=Kind.PRECONDITION,
        title=check.title,
        measured=check.name.replace("_", " "),
        verdict=verdict,
        estimate=estimate,
        interval=None,
        target=target,
        better=better,
        unit=unit,
        value_unit=unit,
        baseline=baseline,
        post=post,
        reason_code=reason_code,
        reason=reason,
        details=dict(details or {}),
    )


def check_flags(evidence: Evidence, suite: Suite, thresholds: Thresholds) -> PreconditionCheck:
    """Every flag on in at least ``flag_share`` of POST's events (an event without flags counts as not
    on), and off in that share of BASELINE's events that carry flags."""
    post_all = sum(evidence.post.flags.values())
    post_on = evidence.post.flags.get("on", 0)
    carrying = sum(evidence.baseline.flags.get(s, 0) for s in ("on", "off", "mixed", "malformed"))
    base_off = evidence.baseline.flags.get("off", 0)
    on_share = post_on / post_all if post_all else None
    off_share = base_off / carrying if carrying else None
    details = {"baseline": dict(evidence.baseline.flags), "post": dict(evidence.post.flags), "flags": list(suite.flags)}
    outline = _result(
        FLAGS_ENABLED,
        Verdict.PASS,
        None,
        "",
        estimate=on_share,
        target=thresholds.flag_share,
        better=Better.HIGHER,
        baseline=Observation(off_share, carrying),
        post=Observation(on_share, post_all),
        details=details,
    )
    flags = " and ".join(suite.flags)
    need = PERCENT.format(thresholds.flag_share)
    if on_share is None or on_share < thresholds.flag_share:
        seen = (
            "POST has no events"
            if on_share is None
            else f"only {PERCENT.format(on_share)} of {post_all:,} POST events carry every flag on"
        )
        return PreconditionCheck(
            replace(
                outline,
                verdict=Verdict.FAIL,
                reason_code="flags_off",
                reason=f"Flag off vs flag still off: {seen} (need {need}); confirm the deployment enables {flags} before judging.",
            )
        )
    if off_share is not None and off_share < thresholds.flag_share:
        return PreconditionCheck(
            replace(
                outline,
                verdict=Verdict.FAIL,
                reason_code="flags_on_in_baseline",
                reason=f"BASELINE is not a flag-off window: only {PERCENT.format(off_share)} of {carrying:,} BASELINE events that carry "
                "flags have them all off; move the BASELINE window before the flip.",
            )
        )
    before = (
        f"; {PERCENT.format(off_share)} of {carrying:,} BASELINE events that carry flags have them off."
        if off_share is not None
        else "; BASELINE events predate the flags."
    )
    return PreconditionCheck(
        replace(
            outline,
            verdict=Verdict.PASS,
            reason_code=None,
            reason=f"{PERCENT.format(on_share)} of {post_all:,} POST events carry every flag on{before}",
        )
    )


def _event_name(types: tuple[str, ...]) -> str:
    if len(types) == 1:
        return types[0]
    family = types[0].rsplit(".", 1)[0]
    if all(t.rsplit(".", 1)[0] == family and "." in t for t in types):
        return f"{family}.* ({', '.join(t.rsplit('.', 1)[1] for t in types)})"
    return " / ".join(types)


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
            _result(
                TELEMETRY_PRESENT,
                Verdict.PASS,
                None,
                "Every event type the goals need has events in both windows.",
                unit=ROWS,
            )
        )
    listed = "; ".join(
        f"no {name} events in the {window} window (needed by {', '.join(ids)})"
        for name, windows in gaps.items()
        for window, ids in windows.items()
    )
    return PreconditionCheck(
        _result(
            TELEMETRY_PRESENT,
            Verdict.FAIL,
            "instrumentation_missing",
            f"Instrumentation missing: {listed}; fix the event writes, then rerun.",
            unit=ROWS,
            details={"missing": [f"{name}@{window}" for name, windows in gaps.items() for window in windows]},
        ),
        missing_for,
    )


def _coverage(window: WindowEvidence) -> float:
    """Days from the first to the last hour with demand events."""
    hours = np.flatnonzero(window.demand_by_hour)
    return 0.0 if hours.size == 0 else (int(hours[-1]) - int(hours[0]) + 1) / 24


def check_windows(evidence: Evidence, thresholds: Thresholds) -> PreconditionCheck:
    """Both windows span at least the minimum, have equal length, their data covers them, and POST is
    closed and complete by the database clock (judged on plausible timestamps only)."""
    base, post = evidence.baseline.window, evidence.post.window
    problems = []
    for name, window in (("BASELINE", base), ("POST", post)):
        if window.days < thresholds.min_window_days:
            problems.append(
                (
                    "window_too_short",
                    f"the {name} window spans {window.days:.2f} days, "
                    f"{thresholds.min_window_days - window.days:.2f} fewer than the {thresholds.min_window_days:g} required",
                )
            )
    if abs(base.days - post.days) > 1 / 24:
        problems.append(("windows_unequal", f"BASELINE spans {base.days:.2f} days but POST {post.days:.2f}"))
    for name, window_evidence in evidence.windows():
        covered = _coverage(window_evidence)
        if covered < thresholds.min_coverage * window_evidence.window.days:
            problems.append(
                (
                    "window_not_covered",
                    f"demand events in the {name} window cover only {covered:.2f} of its {window_evidence.window.days:.2f} days",
                )
            )
    census = evidence.census
    slack = timedelta(hours=thresholds.late_slack_hours)
    if post.end + slack > census.checked_at:
        problems.append(
            (
                "window_not_closed",
                f"the POST window ends {post.end.isoformat()}, which is not yet {thresholds.late_slack_hours:g} h in the past "
                f"(database clock {census.checked_at.isoformat(timespec='seconds')})",
            )
        )
    elif census.newest_event_at is None or census.newest_event_at < post.end + slack:
        newest = "none" if census.newest_event_at is None else census.newest_event_at.isoformat(timespec="seconds")
        problems.append(
            (
                "data_not_complete",
                f"the newest plausible event ({newest}) is not yet {thresholds.late_slack_hours:g} h past the end of POST, "
                "so late events may still arrive",
            )
        )
    details = {
        "baseline_days": base.days,
        "post_days": post.days,
        "newest_event_at": None if census.newest_event_at is None else census.newest_event_at.isoformat(),
        "checked_at": census.checked_at.isoformat(),
    }
    outline = _result(
        WINDOW_SUFFICIENT,
        Verdict.PASS,
        None,
        "",
        unit=DAYS,
        estimate=min(base.days, post.days),
        target=thresholds.min_window_days,
        better=Better.HIGHER,
        details=details,
    )
    if problems:
        return PreconditionCheck(
            replace(
                outline,
                verdict=Verdict.INCONCLUSIVE,
                reason_code=problems[0][0],
                reason="Not enough time to judge: "
                + "; ".join(p for _, p in problems)
                + ". Wait for more data or widen the windows.",
            )
        )
    return PreconditionCheck(
        replace(
            outline,
            verdict=Verdict.PASS,
            reason_code=None,
            reason=f"Both windows span {base.days:g} days (minimum {thresholds.min_window_days:g}), their events cover them, and POST is closed and complete.",
        )
    )


def total_variation(a: Mapping[K, float], b: Mapping[K, float]) -> tuple[float, float] | None:
    """Half the L1 distance between two count distributions, and the distance sampling alone would
    give on average (multinomial counts, normal approximation); ``None`` without data."""
    na, nb = sum(a.values()), sum(b.values())
    if na <= 0 or nb <= 0:
        return None
    distance, noise = 0.0, 0.0
    for key in set(a) | set(b):
        pa, pb = a.get(key, 0) / na, b.get(key, 0) / nb
        pooled = (a.get(key, 0) + b.get(key, 0)) / (na + nb)
        distance += abs(pa - pb)
        noise += math.sqrt(2 / math.pi) * math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    return 0.5 * distance, 0.5 * noise


def _fold(counts: np.ndarray, key: Callable[[int], int]) -> dict[int, float]:
    folded: dict[int, float] = {}
    for hour, n in enumerate(counts.tolist()):
        if n:
            folded[key(hour)] = folded.get(key(hour), 0) + n
    return folded


def check_comparable(evidence: Evidence, suite: Suite, thresholds: Thresholds) -> PreconditionCheck:
    """BASELINE and POST see the same demand: volume per day, hour-of-day and weekday mix, the mix of
    cluster groups and the suite's declared mixes differ by no more than the bounds, beyond sampling."""
    base, post = evidence.baseline, evidence.post
    demand_base, demand_post = float(base.demand_by_hour.sum()), float(post.demand_by_hour.sum())
    start_of = {id(base): base.window.start, id(post): post.window.start}

    def hour_of_week(window: WindowEvidence) -> Callable[[int], int]:
        start = start_of[id(window)]
        offset = (start.weekday() * 24 + start.hour) % 168
        return lambda hour: (offset + hour) % 168

    how_base = _fold(base.demand_by_hour, hour_of_week(base))
    how_post = _fold(post.demand_by_hour, hour_of_week(post))
    measured: dict[str, tuple[float, float] | None] = {
        "hour_of_day": total_variation(_refold(how_base, 24), _refold(how_post, 24)),
        "weekday": total_variation(
            dict(_refold_by(how_base, lambda h: h // 24).items()), _refold_by(how_post, lambda h: h // 24)
        ),
        "cluster_mix": total_variation(_groups(base), _groups(post)),
    }
    bounds = {
        "hour_of_day": thresholds.max_mix_distance,
        "weekday": thresholds.max_mix_distance,
        "cluster_mix": thresholds.max_cluster_distance,
    }
    for mix in suite.mixes:
        a = {k: v for k, v in base.mixes.get(mix.name, {}).items() if k != "(none)"}
        b = {k: v for k, v in post.mixes.get(mix.name, {}).items() if k != "(none)"}
        measured[mix.name] = total_variation(a, b)
        bounds[mix.name] = thresholds.max_mix_distance
    ratio = (demand_post / post.window.days) / (demand_base / base.window.days) if demand_base and demand_post else None
    problems = []
    if ratio is not None and not 1 / thresholds.max_volume_ratio <= ratio <= thresholds.max_volume_ratio:
        problems.append(f"demand per day changed by a factor {ratio:.2f} (bound {thresholds.max_volume_ratio:g})")
    excess: dict[str, float] = {}
    for name, bound in bounds.items():
        found = measured[name]
        if found is None:
            continue
        distance, noise = found
        excess[name] = distance - noise
        if distance - noise > bound:
            problems.append(
                f"the {name.replace('_', ' ')} differs by {PERCENT.format(distance)} total variation "
                f"({PERCENT.format(noise)} of it expected from sampling alone; bound {PERCENT.format(bound)})"
            )
    details = {
        "volume_ratio": ratio,
        **{
            name: None if found is None else {"distance": found[0], "sampling": found[1]}
            for name, found in measured.items()
        },
    }
    worst = max(excess.values(), default=None)
    outline = _result(
        WINDOWS_COMPARABLE,
        Verdict.PASS,
        None,
        "",
        estimate=worst,
        target=thresholds.max_mix_distance,
        better=Better.LOWER,
        details=details,
    )
    if problems:
        return PreconditionCheck(
            replace(
                outline,
                verdict=Verdict.INCONCLUSIVE,
                reason_code="windows_not_comparable",
                reason="BASELINE and POST are not comparable: "
                + "; ".join(problems)
                + ". Pick windows with the same weekdays and traffic, or widen them.",
            )
        )
    return PreconditionCheck(
        replace(
            outline,
            verdict=Verdict.PASS,
            reason_code=None,
            reason="Demand volume, time of day, weekday, cluster and declared mixes are within bounds"
            + (f" (volume ratio {ratio:.2f})." if ratio is not None else "."),
        )
    )


def _refold(counts: Mapping[int, float], period: int) -> dict[int, float]:
    return _refold_by(counts, lambda h: h % period)


def _refold_by(counts: Mapping[int, float], key: Callable[[int], int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for hour, n in counts.items():
        out[key(hour)] = out.get(key(hour), 0) + n
    return out


def _groups(window: WindowEvidence) -> dict[int, float]:
    return {i: float(n) for i, n in enumerate(window.demand_by_group.tolist()) if n}


def check_understood(evidence: Evidence, thresholds: Thresholds) -> PreconditionCheck:
    """No duplicate ids, and rows without an event type stay under ``max_excluded_share`` of a window.
    Rows of other event types are listed; spelling variants of declared types are excluded from their
    measures (each goal then weighs its own excluded share)."""
    census = evidence.census
    problems = []
    duplicates = census.duplicate_ids or {}
    if any(duplicates.values()):
        listed = ", ".join(f"{n:,} in {w}" for w, n in duplicates.items() if n)
        problems.append(
            (
                "duplicate_ids",
                f"the table has no unique constraint on id and {listed} rows repeat an id, so events would be counted twice",
            )
        )
    for name, window in evidence.windows():
        null_types = census.null_event_type.get(name, 0)
        total = sum(window.events.values()) + null_types
        if total and null_types / total > thresholds.max_excluded_share:
            problems.append(
                ("rows_not_understood", f"{null_types:,} of {total:,} rows of the {name} window have no event type")
            )
    details = {
        "duplicate_ids": duplicates,
        "unique_ids": census.unique_ids,
        "null_event_type": dict(census.null_event_type),
        "null_created_at": census.null_created_at,
        "future_rows": census.future_rows,
        "ancient_rows": census.ancient_rows,
        "variants": dict(census.variants),
        "other_types": {w: dict(v) for w, v in census.other_types.items()},
    }
    notes = []
    if census.variants:
        notes.append(
            "event types written differently from the declared ones were excluded: "
            + ", ".join(f"{variant!r} for {declared!r}" for variant, declared in sorted(census.variants.items()))
        )
    if census.future_rows or census.ancient_rows or census.null_created_at:
        notes.append(
            f"{census.future_rows:,} rows dated in the future, {census.ancient_rows:,} before 2000 and "
            f"{census.null_created_at:,} without created_at are outside every window and ignored for completeness"
        )
    tail = (" " + "; ".join(notes).capitalize() + ".") if notes else ""
    if problems:
        return PreconditionCheck(
            _result(
                TELEMETRY_UNDERSTOOD,
                Verdict.INCONCLUSIVE,
                problems[0][0],
                "Rows the gate cannot account for: " + "; ".join(p for _, p in problems) + "." + tail,
                unit=ROWS,
                details=details,
            )
        )
    return PreconditionCheck(
        _result(
            TELEMETRY_UNDERSTOOD,
            Verdict.PASS,
            None,
            "Every row of the windows was used or counted under a reason." + tail,
            unit=ROWS,
            details=details,
        )
    )


def check_preconditions(
    evidence: Evidence, suite: Suite, goals: Sequence[Goal], thresholds: Thresholds
) -> dict[str, PreconditionCheck]:
    return {
        FLAGS_ENABLED.name: check_flags(evidence, suite, thresholds),
        TELEMETRY_PRESENT.name: check_telemetry(evidence, goals),
        WINDOW_SUFFICIENT.name: check_windows(evidence, thresholds),
        WINDOWS_COMPARABLE.name: check_comparable(evidence, suite, thresholds),
        TELEMETRY_UNDERSTOOD.name: check_understood(evidence, thresholds),
    }
