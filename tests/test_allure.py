"""The Allure results a change-record reviewer reads, and the plots attached to them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from sprintgate.allure_results import CATEGORIES, executor

GOALS = Path(__file__).resolve().parent.parent / "goals"


def _results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in directory.glob("*-result.json"):
        document = json.loads(path.read_text())
        found[document["fullName"].rsplit("#", 1)[-1]] = document
    return found


class TestAllureResults:
    def test_every_goal_carries_title_labels_parameters_steps_and_attachments(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Titles in words, epic/feature/severity, parameters, one step per phase, SQL, evidence and plots."""
        shutil.copytree(GOALS, pytester.path / "goals")
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/bookings")
        monkeypatch.setenv("GITHUB_RUN_ID", "77")
        result = pytester.runpytest_subprocess(
            "goals", "--demo-scale", "0.1", "--scenario", "telemetry_missing", f"--alluredir={pytester.path / 'allure'}"
        )
        assert result.ret == 1
        results = _results(pytester.path / "allure")
        assert len(results) == 12

        planner = results["test_planner_p95_reduction"]
        assert planner["name"] == "Planner p95 reduced by >= 30 %"
        assert planner["status"] == "skipped"
        assert "INCONCLUSIVE (instrumentation_missing)" in planner["statusDetails"]["message"]
        labels = {(label["name"], label["value"]) for label in planner["labels"]}
        assert ("feature", "goal") in labels
        assert ("severity", "normal") in labels
        assert any(name == "epic" and "FEATURE_AUTO_ASSIGN_RETRY_POLICY_V2" in value for name, value in labels)
        parameters = {p["name"]: p["value"] for p in planner["parameters"]}
        assert set(parameters) >= {"env", "baseline", "post", "target", "confidence", "verdict"}
        steps = [step["name"] for step in planner["steps"]]
        assert [s.split(":")[0].split(" ")[0] for s in steps] == ["Fetch", "Check", "Compute", "Decide"]
        attachments = [a["name"] for step in planner["steps"] for a in step.get("attachments", [])]
        assert "BASELINE window_evidence.sql" in attachments
        assert {"evidence.json", "planner_p95_reduction.png", "overview.png"} <= set(attachments)

        guardrail = results["test_job_success_rate"]
        assert ("severity", "critical") in {(label["name"], label["value"]) for label in guardrail["labels"]}
        assert results["test_telemetry_present"]["status"] == "failed"

        directory = pytester.path / "allure"
        assert "env = demo" in (directory / "environment.properties").read_text()
        assert json.loads((directory / "categories.json").read_text()) == CATEGORIES
        assert json.loads((directory / "executor.json").read_text())["buildUrl"].endswith(
            "/acme/bookings/actions/runs/77"
        )

    @pytest.mark.parametrize(
        ("message", "status", "category"),
        [
            ("planner_p95_reduction [goal]: FAIL (target_missed): ...", "failed", "Goal not met"),
            ("job_success_rate [guardrail]: FAIL (target_missed): ...", "failed", "Guardrail breached"),
            ("flags_enabled [precondition]: FAIL (flags_off): ...", "failed", "Precondition not met"),
            ("x [goal]: INCONCLUSIVE (straddles_target): ...", "skipped", "Inconclusive: not enough data"),
            ("x [goal]: INCONCLUSIVE (window_too_short): ...", "skipped", "Inconclusive: not enough data"),
            (
                "x [goal]: INCONCLUSIVE (instrumentation_missing): ...",
                "skipped",
                "Inconclusive: instrumentation missing",
            ),
            ("x [goal]: INCONCLUSIVE (flags_off): ...", "skipped", "Precondition not met"),
            ("x [goal]: INCONCLUSIVE (placebo_fired): ...", "skipped", "Precondition not met"),
            ("sprintgate: could not connect ...", "broken", "Infrastructure error"),
        ],
    )
    def test_categories_sort_every_non_pass(self, message: str, status: str, category: str) -> None:
        """Each kind of non-pass lands in its category (first match wins, as in Allure)."""
        matched = next(
            c["name"]
            for c in CATEGORIES
            if status in c["matchedStatuses"] and re.fullmatch(str(c.get("messageRegex", ".*")), message, re.DOTALL)
        )
        assert matched == category

    def test_executor_is_absent_outside_ci(self) -> None:
        """Without CI variables there is no executor.json to write."""
        assert executor({}) is None
