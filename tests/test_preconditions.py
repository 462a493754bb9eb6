"""Trustworthy windows: comparability, closed windows, the placebo check, and the diagnostics that say
what to do next."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from sprintgate import contract
from sprintgate.evidence import Evidence, fetch_run_evidence
from sprintgate.gate import derive_windows, find_flip
from sprintgate.goals import Judging
from sprintgate.plots import goal_plot, overview_plot
from sprintgate.preconditions import WINDOW_SUFFICIENT, WINDOWS_COMPARABLE, check_preconditions, judge
from sprintgate.promotion import staging_blocker
from sprintgate.stats import Histogram
from sprintgate.synthetic import load_scenario
from sprintgate.verdict import Verdict
from sprintgate.windows import Window
from tests.test_goals import GOALS, verdicts

Database = Callable[[str], psycopg.Connection[Any]]
GOAL = {g.id: g for g in GOALS}


@pytest.fixture
def met(database: Database) -> Evidence:
    scenario = load_scenario("rollout_met")
    return fetch_run_evidence(database("rollout_met"), scenario.baseline_window, scenario.post_window)


def _judge(goal_id: str, evidence: Evidence, judging: Judging | None = None) -> Any:
    judging = judging or Judging()
    return judge(
        GOAL[goal_id], evidence, judging, check_preconditions(evidence, GOALS, judging), family_size=len(GOALS)
    )


class TestComparability:
    def test_a_demand_shift_blocks_every_pass(self, met: Evidence) -> None:
        """Three times the demand per day in POST makes the windows incomparable: no goal passes."""
        events = {k: v * (3 if k in contract.DEMAND_EVENTS else 1) for k, v in met.post.events.items()}
        shifted = replace(met, post=replace(met.post, events=events))
        result = verdicts(shifted)
        assert result[WINDOWS_COMPARABLE] == (Verdict.INCONCLUSIVE, "windows_not_comparable")
        assert {result[g.id] for g in GOALS} == {(Verdict.INCONCLUSIVE, "windows_not_comparable")}

    def test_an_hour_mix_shift_is_named(self, met: Evidence) -> None:
        """Demand moved by twelve hours of the day is reported as an hour-of-day difference."""
        moved = {(hour + 12) % 168: n for hour, n in met.post.demand_by_hour.items()}
        check = check_preconditions(replace(met, post=replace(met.post, demand_by_hour=moved)), GOALS, Judging())
        assert "hour of day differs by" in check[WINDOWS_COMPARABLE].result.reason

    def test_the_scenarios_are_comparable(self, met: Evidence) -> None:
        """The synthetic rollout keeps demand, hours, reasons and restaurants comparable."""
        assert check_preconditions(met, GOALS, Judging())[WINDOWS_COMPARABLE].met


class TestClosedWindows:
    def test_a_window_still_open_is_not_judged(self, met: Evidence) -> None:
        """A POST window that ends in the future makes every goal INCONCLUSIVE (window_not_closed)."""
        early = replace(met, checked_at=met.post.window.end - timedelta(hours=2))
        assert verdicts(early)[WINDOW_SUFFICIENT] == (Verdict.INCONCLUSIVE, "window_not_closed")

    def test_late_data_is_waited_for(self, met: Evidence) -> None:
        """When the newest event is not yet past POST's end by the slack, the run waits (data_not_complete)."""
        late = replace(met, newest_event_at=met.post.window.end - timedelta(minutes=5))
        result = verdicts(late)
        assert result[WINDOW_SUFFICIENT] == (Verdict.INCONCLUSIVE, "data_not_complete")
        assert result["planner_p95_reduction"] == (Verdict.INCONCLUSIVE, "data_not_complete")


class TestPlacebo:
    def test_a_shift_inside_baseline_withholds_the_pass(self, met: Evidence) -> None:
        """If planner p95 jumps between the two halves of BASELINE, the planner goal's PASS is withheld."""
        assert met.baseline_halves is not None
        first, second = met.baseline_halves
        planner = second.durations["planner_duration"]
        slower = Histogram(planner.values * 1.5, planner.counts)
        halves = (first, replace(second, durations={**second.durations, "planner_duration": slower}))
        result = _judge("planner_p95_reduction", replace(met, baseline_halves=halves))
        assert (result.verdict, result.reason_code) == (Verdict.INCONCLUSIVE, "placebo_fired")
        assert result.details["placebo"]["fired"] is True

    def test_stationary_baseline_keeps_every_pass(self, met: Evidence) -> None:
        """On the stationary scenario no placebo fires and every goal passes."""
        for goal in GOALS:
            result = _judge(goal.id, met)
            assert result.verdict is Verdict.PASS
            assert result.details["placebo"]["fired"] is False


class TestDiagnostics:
    def test_vanished_inline_successes_are_pointed_out(self, met: Evidence) -> None:
        """No inline success events in POST while attempts still succeed is named in the inline results."""
        events = dict(met.post.events)
        events[contract.INLINE_TIMEOUT] = events.pop(contract.INLINE_SUCCEEDED) + events[contract.INLINE_TIMEOUT]
        broken = replace(
            met,
            post=replace(
                met.post,
                events=events,
                inline_timeout=replace(met.post.inline_timeout, hits=events[contract.INLINE_TIMEOUT]),
            ),
        )
        result = _judge("inline_timeout_rate", broken)
        assert result.verdict is Verdict.FAIL
        assert "inline success events disappeared: 0 inline_auto_assign.succeeded in post" in result.reason.lower()
        assert "roll back with FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2=false" in result.reason

    def test_a_straddling_goal_says_how_many_days_more(self, met: Evidence) -> None:
        """An interval that straddles the target says how many more events and days would likely decide it."""
        goal = replace(GOAL["planner_p95_reduction"], target=0.43)
        judging = Judging()
        result = judge(goal, met, judging, check_preconditions(met, GOALS, judging), family_size=len(GOALS))
        assert result.reason_code == "straddles_target"
        assert result.more_events_needed is not None
        assert "more days per window" in result.reason


class TestWindows:
    def test_windows_derive_from_the_flip(self) -> None:
        """BASELINE is the week before the flip; POST the week after a day of warm-up."""
        flip = datetime(2026, 10, 8, tzinfo=UTC)
        baseline, post = derive_windows(flip, 7, 24)
        assert baseline == Window(datetime(2026, 10, 1, tzinfo=UTC), flip)
        assert post == Window(datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 10, 16, tzinfo=UTC))

    def test_flip_auto_finds_the_first_flagged_event(self, database: Database) -> None:
        """The first event with both flags on is found just after the scenario's flip."""
        scenario = load_scenario("rollout_met")
        found = find_flip(database("rollout_met"), Window(scenario.baseline_window.start, scenario.post_window.end))
        assert found is not None
        assert scenario.flip <= found < scenario.flip + timedelta(hours=2)  # nights are quiet

    def test_flip_auto_finds_nothing_when_flags_stay_off(self, database: Database) -> None:
        """With the flags never on, there is no flip to find."""
        scenario = load_scenario("flags_off")
        assert (
            find_flip(database("flags_off"), Window(scenario.baseline_window.start, scenario.post_window.end)) is None
        )


class TestPromotion:
    NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
    TARGETS: ClassVar[dict[str, float]] = {"planner_p95_reduction": 0.7}

    def _write(self, tmp_path: Path, **changes: Any) -> Path:
        document = {
            "env": "staging",
            "verdict": "pass",
            "generated_at": (self.NOW - timedelta(hours=3)).isoformat(),
            "flags": list(contract.FLAG_NAMES),
            "goals": [
                {"id": "planner_p95_reduction", "kind": "goal", "target": 0.7},
                {"id": "flags_enabled", "kind": "precondition", "target": 0.99},
            ],
        }
        document.update(changes)
        path = tmp_path / "results.json"
        path.write_text(json.dumps(document))
        return path

    def test_a_recent_passing_staging_run_allows_production(self, tmp_path: Path) -> None:
        """Same goals, same targets, same flags, PASS, three hours old: no blocker."""
        assert staging_blocker(self._write(tmp_path), self.TARGETS, max_age_hours=72, now=self.NOW) is None

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"verdict": "inconclusive"}, "did not pass"),
            ({"generated_at": "2026-10-01T00:00:00+00:00"}, "h old"),
            ({"env": "demo"}, "not staging"),
            ({"flags": ["SOMETHING_ELSE"]}, "other flags"),
            ({"goals": [{"id": "planner_p95_reduction", "kind": "goal", "target": 0.8}]}, "other targets"),
            ({"goals": []}, "other goals"),
        ],
    )
    def test_blocks_production(self, tmp_path: Path, changes: dict[str, Any], message: str) -> None:
        """Each reason to refuse is named."""
        blocker = staging_blocker(self._write(tmp_path, **changes), self.TARGETS, max_age_hours=72, now=self.NOW)
        assert blocker is not None
        assert message in blocker


class TestPlots:
    def test_every_goal_has_a_deterministic_plot(self, met: Evidence) -> None:
        """Each goal's plot is a PNG and the same evidence gives the same bytes; so does the overview."""
        judging = Judging()
        checks = check_preconditions(met, GOALS, judging)
        results = [judge(g, met, judging, checks, family_size=len(GOALS)) for g in GOALS]
        for goal, result in zip(GOALS, results, strict=True):
            png = goal_plot(goal, result, met)
            assert png.startswith(b"\x89PNG")
            assert png == goal_plot(goal, result, met)
        assert overview_plot(results) == overview_plot(results)
