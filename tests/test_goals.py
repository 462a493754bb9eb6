"""Every goal decides PASS, FAIL and INCONCLUSIVE correctly on the fixture scenarios, and the
preconditions block a PASS without hiding a confident FAIL."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sprintgate import Goal, Verdict
from sprintgate.evidence import Evidence, Proportion, WindowEvidence, fetch_evidence, fetch_run_evidence
from sprintgate.goals import Judging
from sprintgate.preconditions import (
    FLAGS_ENABLED,
    PRECONDITIONS,
    TELEMETRY_PRESENT,
    WINDOW_SUFFICIENT,
    check_preconditions,
    judge,
)
from sprintgate.stats import Histogram
from sprintgate.synthetic import load_scenario
from sprintgate.windows import Window

GOALS_DIR = Path(__file__).resolve().parent.parent / "goals"
Database = Callable[[str], psycopg.Connection[Any]]


def _declared_goals() -> list[Goal]:
    goals = []
    for path in sorted(GOALS_DIR.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if isinstance(getattr(module, "GOAL", None), Goal):
            goals.append(module.GOAL)
    return goals


GOALS = _declared_goals()


def verdicts(evidence: Evidence, judging: Judging | None = None) -> dict[str, tuple[Verdict, str | None]]:
    judging = judging or Judging()
    checks = check_preconditions(evidence, GOALS, judging)
    results = {g.id: judge(g, evidence, judging, checks, family_size=len(GOALS)) for g in GOALS}
    results |= {name: check.result for name, check in checks.items()}
    return {k: (r.verdict, r.reason_code) for k, r in results.items()}


def scenario_evidence(database: Database, name: str) -> Evidence:
    scenario = load_scenario(name)
    return fetch_run_evidence(database(name), scenario.baseline_window, scenario.post_window)


class TestScenarios:
    def test_goals_folder_declares_the_eight_goals(self) -> None:
        """goals/ declares the five goals and three guardrails of the rollout document."""
        assert len(GOALS) == 8

    def test_rollout_met_passes_everything(self, database: Database) -> None:
        """Every goal, guardrail and precondition passes when every goal is truly met."""
        assert set(verdicts(scenario_evidence(database, "rollout_met")).values()) == {(Verdict.PASS, None)}

    def test_rollout_regressed_fails_every_goal_and_guardrail(self, database: Database) -> None:
        """Missed goals and breached guardrails FAIL while the preconditions hold."""
        result = verdicts(scenario_evidence(database, "rollout_regressed"))
        assert {result[g.id] for g in GOALS} == {(Verdict.FAIL, "target_missed")}
        assert {result[p] for p in PRECONDITIONS} == {(Verdict.PASS, None)}

    def test_telemetry_missing_is_inconclusive_with_instrumentation_missing(self, database: Database) -> None:
        """Goals that need auto_assign.quote are INCONCLUSIVE; the precondition fails; the rest still PASS."""
        result = verdicts(scenario_evidence(database, "telemetry_missing"))
        for goal in ("planner_p95_reduction", "cache_hit_ceiling", "quote_error_rate"):
            assert result[goal] == (Verdict.INCONCLUSIVE, "instrumentation_missing")
        assert result[TELEMETRY_PRESENT] == (Verdict.FAIL, "instrumentation_missing")
        assert result["attempts_per_booking_reduction"] == (Verdict.PASS, None)

    def test_flags_off_never_passes(self, database: Database) -> None:
        """Flag off vs flag still off: the precondition fails and no goal passes."""
        result = verdicts(scenario_evidence(database, "flags_off"))
        assert result[FLAGS_ENABLED] == (Verdict.FAIL, "flags_off")
        assert all(result[g.id][0] is not Verdict.PASS for g in GOALS)
        assert {result[g.id][1] for g in GOALS} <= {"flags_off", "target_missed"}

    def test_dirty_telemetry_is_excluded_and_reported(self, database: Database) -> None:
        """Malformed rows are left out (every goal still passes) and counted per reason."""
        evidence = scenario_evidence(database, "dirty")
        assert set(verdicts(evidence).values()) == {(Verdict.PASS, None)}
        assert evidence.post.excluded["planner_duration"]["absurd"] > 0
        judging = Judging()
        checks = check_preconditions(evidence, GOALS, judging)
        planner = judge(next(g for g in GOALS if g.id == "planner_p95_reduction"), evidence, judging, checks)
        assert planner.excluded_rows["post.absurd"] > 0


class TestPreconditions:
    def test_a_short_window_turns_pass_into_inconclusive(self, database: Database) -> None:
        """With one day per window every would-be PASS is INCONCLUSIVE (window_too_short)."""
        connection = database("rollout_met")
        scenario = load_scenario("rollout_met")
        day = scenario.baseline_window.end - scenario.baseline_window.start
        short_base = Window(scenario.baseline_window.end - day / 7, scenario.baseline_window.end)
        short_post = Window(scenario.post_window.start, scenario.post_window.start + day / 7)
        result = verdicts(Evidence(fetch_evidence(connection, short_base), fetch_evidence(connection, short_post)))
        assert result[WINDOW_SUFFICIENT] == (Verdict.INCONCLUSIVE, "window_too_short")
        assert all(result[g.id] == (Verdict.INCONCLUSIVE, "window_too_short") for g in GOALS)

    def test_a_confident_regression_stays_fail_whatever_the_window(self, database: Database) -> None:
        """A success rate that fell from 80 % to 10 % is a FAIL even when a precondition is not met."""
        evidence = scenario_evidence(database, "rollout_met")
        collapsed = replace(evidence.post, job_success=Proportion(hits=5, n=50), flags={"off": 100})
        result = verdicts(Evidence(evidence.baseline, collapsed))
        assert result[FLAGS_ENABLED][0] is Verdict.FAIL
        assert result["job_success_rate"] == (Verdict.FAIL, "target_missed")

    def test_the_cautionary_tale_never_passes(self, database: Database) -> None:
        """14 inline events, 2 days vs 1 day, 3/5 vs 0/15 job successes: nothing passes; the success collapse FAILs."""
        evidence = scenario_evidence(database, "rollout_met")
        base = replace(
            evidence.baseline,
            job_success=Proportion(hits=3, n=5),
            inline_timeout=Proportion(hits=5, n=6),
            window=Window(
                evidence.baseline.window.start, evidence.baseline.window.start + (evidence.baseline.window.length / 3.5)
            ),
        )
        post = replace(
            evidence.post,
            job_success=Proportion(hits=0, n=15),
            inline_timeout=Proportion(hits=13, n=13),
            window=Window(evidence.post.window.start, evidence.post.window.start + (evidence.post.window.length / 7)),
        )
        result = verdicts(Evidence(base, post))
        assert result[WINDOW_SUFFICIENT][0] is Verdict.INCONCLUSIVE
        assert result["job_success_rate"] == (Verdict.FAIL, "target_missed")
        assert all(result[g.id][0] is not Verdict.PASS for g in GOALS)

    def test_tiny_samples_are_inconclusive_with_the_sample_needed(self, database: Database) -> None:
        """Below the minimum sample for a finite p95 bound the goal says how many events it still needs."""
        evidence = scenario_evidence(database, "rollout_met")
        tiny = Histogram.of_durations([float(v) for v in range(1, 15)])
        post = replace(evidence.post, durations={**evidence.post.durations, "inline_duration": tiny})
        judging = Judging()
        goal = next(g for g in GOALS if g.id == "inline_p95_budget")
        result = judge(goal, Evidence(evidence.baseline, post), judging, check_preconditions(evidence, GOALS, judging))
        assert (result.verdict, result.reason_code) == (Verdict.INCONCLUSIVE, "insufficient_sample")
        assert result.more_events_needed == 59 - 14


@pytest.mark.parametrize("name", PRECONDITIONS)
def test_preconditions_are_named_in_the_goals_folder(name: str) -> None:
    """Each precondition has its own module in goals/, so it appears as a test of its own."""
    assert (GOALS_DIR / f"test_{name}.py").is_file()


class TestSpeed:
    def test_judging_every_goal_takes_milliseconds_whatever_the_event_count(self, database: Database) -> None:
        """Deciding all goals from fetched evidence costs the same at 1x and 10,000x the events (buckets, not events)."""
        evidence = scenario_evidence(database, "rollout_met")

        def scaled(factor: int) -> Evidence:
            def grow(window: WindowEvidence) -> WindowEvidence:
                return replace(
                    window,
                    durations={k: Histogram(h.values, h.counts * factor) for k, h in window.durations.items()},
                    attempts_per_booking=Histogram(
                        window.attempts_per_booking.values, window.attempts_per_booking.counts * factor
                    ),
                )

            return Evidence(grow(evidence.baseline), grow(evidence.post))

        timings = {}
        for factor in (1, 10_000):
            big = scaled(factor)
            started = time.perf_counter()
            for _ in range(3):
                verdicts(big)
            timings[factor] = (time.perf_counter() - started) / 3
        assert timings[10_000] < 0.25
        assert timings[10_000] < 3 * timings[1] + 0.02
