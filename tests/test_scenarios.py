"""Every demo scenario of the auto-assign suite gives the verdicts it is built for, through the whole
run: the compiled evidence pass, the cluster-aware intervals and the preconditions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from sprintgate import Verdict
from sprintgate.decision import Outcome
from tests.suite import GOALS, staging_run

Database = Callable[[str], psycopg.Connection[Any]]
PRECONDITIONS = (
    "flags_enabled",
    "telemetry_present",
    "window_sufficient",
    "windows_comparable",
    "telemetry_understood",
)


def verdicts(database: Database, scenario: str, tmp_path: Path) -> dict[str, tuple[Verdict, str | None]]:
    run = staging_run(database(scenario), scenario, tmp_path)
    assert run.fault is None, run.fault
    return {k: (r.verdict, r.reason_code) for k, r in run.results.items()}


class TestScenarios:
    def test_the_documents_goals_are_declared(self) -> None:
        """goals/ declares the rollout document's five goals and three guardrails (more may be added)."""
        assert {g.id for g in GOALS} >= {
            "planner_p95_reduction",
            "attempts_per_booking_reduction",
            "inline_p95_budget",
            "job_duration_halved",
            "cache_hit_ceiling",
            "job_success_rate",
            "inline_timeout_rate",
            "quote_error_rate",
        }

    def test_rollout_met_passes_everything(self, database: Database, tmp_path: Path) -> None:
        """Every goal, guardrail and precondition passes when every goal is truly met."""
        result = verdicts(database, "rollout_met", tmp_path)
        assert {k: v for k, v in result.items() if v != (Verdict.PASS, None)} == {}

    def test_rollout_regressed_fails_every_goal_and_guardrail(self, database: Database, tmp_path: Path) -> None:
        """Missed goals and breached guardrails FAIL while the preconditions hold."""
        result = verdicts(database, "rollout_regressed", tmp_path)
        assert {result[g.id] for g in GOALS} == {(Verdict.FAIL, "target_missed")}
        assert {result[p] for p in PRECONDITIONS} == {(Verdict.PASS, None)}

    def test_telemetry_missing_is_inconclusive_with_instrumentation_missing(
        self, database: Database, tmp_path: Path
    ) -> None:
        """Goals that need auto_assign.quote are INCONCLUSIVE; the precondition fails; the rest still PASS."""
        result = verdicts(database, "telemetry_missing", tmp_path)
        for goal in ("planner_p95_reduction", "cache_hit_ceiling", "quote_error_rate"):
            assert result[goal] == (Verdict.INCONCLUSIVE, "instrumentation_missing")
        assert result["telemetry_present"] == (Verdict.FAIL, "instrumentation_missing")
        assert result["job_duration_halved"] == (Verdict.PASS, None)

    def test_flags_off_blocks_every_pass(self, database: Database, tmp_path: Path) -> None:
        """Flag off vs flag still off: the precondition fails and no goal passes."""
        run = staging_run(database("flags_off"), "flags_off", tmp_path)
        assert run.results["flags_enabled"].verdict is Verdict.FAIL
        assert not [g.id for g in GOALS if run.results[g.id].verdict is Verdict.PASS]
        for check in run.declared:
            run.record(check, run.results[check].verdict.value)
        decision = run.finish(interrupted=False)
        assert decision.outcome is Outcome.DO_NOT_PROMOTE
        assert decision.blocked_by == "flags_enabled"
        assert decision.line().startswith("DO NOT PROMOTE: the flags are not on in POST (flags_enabled)")

    def test_dirty_telemetry_counts_what_it_left_out_and_never_passes_on_it(
        self, database: Database, tmp_path: Path
    ) -> None:
        """Malformed events are excluded under their reasons; a goal passes only if it would pass with
        every unread row the worst case for it, so the two with the least room wait, the rest pass."""
        run = staging_run(database("dirty"), "dirty", tmp_path)
        held = {k: r.reason_code for k, r in run.results.items() if r.verdict is not Verdict.PASS}
        assert held == {
            "inline_p95_budget": "unread_rows_could_explain",
            "job_duration_halved": "unread_rows_could_explain",
        }
        assert all(r.verdict is not Verdict.FAIL for r in run.results.values())
        for check in run.declared:
            run.record(check, run.results[check].verdict.value)
        decision = run.finish(interrupted=False)
        assert decision.outcome is Outcome.WAIT
        assert "could not read could explain their result" in decision.headline
        assert decision.next_step.startswith("fix the event writes")
        assert run.evidence is not None
        excluded = run.evidence.post.excluded
        assert excluded["planner_duration"].keys() >= {
            "absurd",
            "negative",
            "missing",
            "not_a_number",
            "context_not_object",
        } - {"context_not_object"}
        assert excluded["cache_hit"]["cache_hit_wrong_type"] > 0
        assert excluded["attempts_per_booking"]["no_booking_id"] > 0
