"""The Allure results a change-record reviewer reads: titles in words, INCONCLUSIVE as its own status,
the headline first in the environment, steps with the compiled SQL, evidence and plots."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sprintgate.allure_results import CATEGORIES, executor
from tests.suite import windows

GOALS = Path(__file__).resolve().parent.parent / "goals"
Database = Callable[[str], psycopg.Connection[Any]]


def _results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in directory.glob("*-result.json"):
        document = json.loads(path.read_text())
        found[document["fullName"].rsplit("#", 1)[-1]] = document
    return found


class TestAllureResults:
    def test_every_check_carries_its_verdict_steps_and_attachments(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, database: Database
    ) -> None:
        """Titles in words, kinds and severities, INCONCLUSIVE as "unknown", one step per phase, SQL and plots."""
        shutil.copytree(GOALS, pytester.path / "goals", ignore=shutil.ignore_patterns("__pycache__"))
        info = database("telemetry_missing").info
        monkeypatch.setenv(
            "STAGING_DATABASE_URL", f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"
        )
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/bookings")
        monkeypatch.setenv("GITHUB_RUN_ID", "77")
        found = windows("telemetry_missing")
        directory = pytester.path / "allure"
        result = pytester.runpytest_subprocess(
            "goals",
            "--env",
            "staging",
            "--baseline",
            found["baseline"],
            "--post",
            found["post"],
            f"--alluredir={directory}",
        )
        assert result.ret == 1
        results = _results(directory)
        assert len(results) == 13

        planner = results["test_planner_p95_reduction"]
        assert planner["name"] == "p95 planner duration at most x0.700 of BASELINE"
        assert planner["status"] == "unknown"
        assert planner["statusDetails"]["message"].startswith(
            "p95 planner duration at most x0.700 of BASELINE (goal): INCONCLUSIVE. Instrumentation missing"
        )
        labels = {(label["name"], label["value"]) for label in planner["labels"]}
        assert {
            ("feature", "goal"),
            ("severity", "normal"),
            ("epic", "Auto-assign: retry policy v2 + planner cache"),
        } <= labels
        parameters = {p["name"]: p["value"] for p in planner["parameters"]}
        assert parameters["target"] == "'x0.700'"  # allure-pytest shows values as repr()
        assert parameters["verdict"] == "'INCONCLUSIVE'"
        steps = [step["name"].split(":")[0].split(" ")[0] for step in planner["steps"]]
        assert steps == ["Fetch", "Check", "Compute", "Decide"]
        attachments = {a["name"] for step in planner["steps"] for a in step.get("attachments", [])}
        assert {
            "evidence.sql",
            "evidence.json",
            "planner_p95_reduction.png",
            "overview.png",
            "preconditions.json",
        } <= attachments

        guardrail = results["test_job_success_rate"]
        assert ("severity", "critical") in {(label["name"], label["value"]) for label in guardrail["labels"]}
        assert results["test_telemetry_present"]["status"] == "failed"

        environment = (directory / "environment.properties").read_text().splitlines()
        assert environment[0].startswith(
            "decision = DO NOT PROMOTE: events the goals need are missing (telemetry_present)"
        )
        assert json.loads((directory / "categories.json").read_text()) == CATEGORIES
        assert json.loads((directory / "executor.json").read_text())["buildUrl"].endswith(
            "/acme/bookings/actions/runs/77"
        )

    @pytest.mark.parametrize(
        ("message", "status", "category"),
        [
            ("Planner p95 at most x0.700 (goal): FAIL. ...", "failed", "Goal not met"),
            ("Job success rate not down (guardrail): FAIL. ...", "failed", "Guardrail breached (roll back)"),
            ("Flags on in POST (precondition): FAIL. ...", "failed", "Precondition not met"),
            ("Windows long enough (precondition): INCONCLUSIVE. ...", "unknown", "Precondition not met"),
            ("Planner p95 (goal): INCONCLUSIVE. ...", "unknown", "Inconclusive: wait for more data"),
            ("sprintgate: could not connect ...", "broken", "Could not measure"),
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
