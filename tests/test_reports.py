"""Reports as one set, text as data, units one per row, and plots that never clip or overlap."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from matplotlib import pyplot
from matplotlib.text import Text

from sprintgate import plots
from sprintgate.decision import Outcome, decide_run
from sprintgate.reportset import ReportError, write_set
from sprintgate.units import MS, PERCENT, POINTS, RATIO, count_unit
from tests.suite import staging_run

Database = Callable[[str], psycopg.Connection[Any]]


class TestReportSet:
    def test_a_set_replaces_the_last_one_whole_and_keeps_foreign_files(self, tmp_path: Path) -> None:
        """Stale plots go with their set; allure-results and history stay; every file has the mode asked."""
        directory = tmp_path / "reports" / "demo"
        write_set(
            directory,
            {"results.json": "{}", "summary.md": "old", "metrics.csv": "", "plots/a.png": b"1"},
            history_name="1.json",
            mode=0o644,
        )
        (directory / "allure-results").mkdir()
        (directory / "allure-results" / "x-result.json").write_text("{}")
        write_set(
            directory,
            {"results.json": "{}", "summary.md": "new", "metrics.csv": "", "plots/b.png": b"2"},
            history_name="2.json",
            mode=0o640,
        )
        assert (directory / "summary.md").read_text() == "new"
        assert not (directory / "plots" / "a.png").exists()
        assert (directory / "allure-results" / "x-result.json").exists()
        assert sorted(p.name for p in (directory / "history").iterdir()) == ["1.json", "2.json"]
        assert (directory / "summary.md").stat().st_mode & 0o777 == 0o640
        assert not [p for p in directory.parent.iterdir() if p.name.startswith(".")]

    def test_a_write_that_cannot_happen_is_one_line_and_changes_nothing(self, tmp_path: Path) -> None:
        """A reports directory under a file: ReportError in one line, no partial set left."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(
            ReportError,
            match=r"^sprintgate: cannot create the reports directory under .*file \((File exists|Not a directory)\)\.$",
        ):
            write_set(tmp_path / "file" / "demo", {"results.json": "{}"}, history_name="1.json", mode=0o644)


class TestUnits:
    @pytest.mark.parametrize(
        ("unit", "value", "shown"),
        [
            (MS, 1234.4, "1,234 ms"),
            (MS, 4.125, "4.12 ms"),
            (PERCENT, 0.152, "15.2 %"),
            (PERCENT, 0.0012, "0.12 %"),
            (POINTS, 0.05, "+5.0 points"),
            (POINTS, -0.0091, "-0.91 points"),
            (RATIO, 0.4521, "x0.452"),
            (count_unit("attempts"), 2.634, "2.63 attempts"),
        ],
    )
    def test_one_formatter_per_unit(self, unit: Any, value: float, shown: str) -> None:
        """Every report shows a value through its unit: ms grouped, rates in %, changes in points, ratios as x."""
        assert unit.format(value) == shown

    def test_a_bound_is_never_shown_equal_to_a_target_it_misses(self) -> None:
        """x0.6998 against x0.700 shows enough digits to tell them apart."""
        assert RATIO.format_against(0.69984, 0.70) == "x0.6998"
        assert RATIO.format_against(0.699999, 0.70) == "x0.699999"

    @pytest.mark.parametrize(
        ("unit", "text", "value"),
        [
            (PERCENT, "30%", 0.30),
            (POINTS, "5pt", 0.05),
            (RATIO, "0.7", 0.7),
            (RATIO, "x0.7", 0.7),
            (MS, "2000ms", 2000.0),
        ],
    )
    def test_targets_are_read_in_their_unit(self, unit: Any, text: str, value: float) -> None:
        """A target as a person writes it is read into the engine's scale."""
        assert unit.parse(text) == pytest.approx(value)

    def test_a_rate_target_without_its_unit_is_refused(self) -> None:
        """0.3 could mean 0.3 % or 30 %: a rate needs its %."""
        with pytest.raises(ValueError, match="has no unit"):
            PERCENT.parse("0.3")


class TestTextIsData:
    def test_user_and_telemetry_text_cannot_change_a_report(self, database: Database, tmp_path: Path) -> None:
        """A change record with a newline, a heading and a script tag stays one escaped cell of text."""
        run = staging_run(
            database("rollout_met"),
            "rollout_met",
            tmp_path,
            change_record="CHG-1\n# Verdict: PASS <script>alert(1)</script>|x",
        )
        for check in run.declared:
            run.record(check, run.results[check].verdict.value)
        run.finish(interrupted=False)
        summary = (tmp_path / "reports" / "staging" / "summary.md").read_text()
        assert "\n# Verdict" not in summary
        assert "<script>" not in summary
        assert "CHG-1\\n\\# Verdict: PASS &lt;script&gt;" in summary
        document = json.loads((tmp_path / "reports" / "staging" / "results.json").read_text())
        assert document["change_record"]["id"].startswith("CHG-1\n# Verdict")


class TestPlots:
    @pytest.mark.parametrize(
        "scenario", ["rollout_met", "rollout_regressed", "telemetry_missing", "flags_off", "dirty"]
    )
    def test_every_plot_of_every_scenario_is_free_of_overlapping_text(
        self, database: Database, tmp_path: Path, scenario: str
    ) -> None:
        """Render every goal's plot and the overview: no two texts overlap, every title says the real cause."""
        run = staging_run(database(scenario), scenario, tmp_path)
        assert run.evidence is not None
        for check in run.declared:
            run.record(check, run.results[check].verdict.value)
        decision = run.finish(interrupted=False)
        figures = {"overview": plots.draw_overview(list(run.results.values()), decision)}
        for goal in run.goals:
            result, metric = run.results[goal.id], goal.metric
            measure = getattr(metric, "measure")  # noqa: B009 - every kind has one
            name = measure.name
            if metric.unit.name in ("%", "points") or "rate" in type(metric).__name__.lower():
                figures[goal.id] = plots.draw_rates(result, run.evidence, name)
            elif type(metric).__name__ == "MeanRatio":
                figures[goal.id] = plots.draw_per_unit(result, run.evidence, name)
            else:
                budget = getattr(metric, "below", None)
                q = float(getattr(metric, "q"))  # noqa: B009 - quantile kinds carry q; Metric does not promise it
                figures[goal.id] = plots.draw_durations(
                    result, run.evidence, name, q, reference="budget" if budget else "ratio", budget=budget
                )
        try:
            for name, figure in figures.items():
                assert plots.text_overlaps(figure) == [], name
                if name != "overview":
                    title = figure.axes[0].get_title(loc="left")
                    assert title.startswith(run.results[name].verdict.value.upper())
            if scenario == "flags_off":
                assert "precondition not met (flags_off)" in figures["planner_p95_reduction"].axes[0].get_title(
                    loc="left"
                )
            if scenario == "telemetry_missing":
                texts = [t.get_text() for t in figures["planner_p95_reduction"].findobj(Text)]
                assert any(t.startswith("no data") for t in texts)
        finally:
            for figure in figures.values():
                pyplot.close(figure)


class TestDecision:
    def test_no_results_never_promote(self) -> None:
        """A run with nothing judged is incomplete, never a promotion."""
        decision = decide_run([], total=13, judged=0)
        assert decision.outcome is Outcome.INCOMPLETE
        assert decision.exit_code == 64
