"""The change-record report as a reviewer opens it: `pytest goals/ --alluredir`, the documented report
command, and the single HTML file in headless Chromium with the network off.

Needs `npm ci` (the pinned Allure tool), a Java runtime, Debian's chromium and the `report` extra
(playwright); `tox -e report` and .ci/run provide them. Outside CI a missing tool skips with the
command that installs it; in CI it fails, so a report that was never checked cannot pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sprintgate.html_report import ReportError, allure_command, build

if TYPE_CHECKING:
    from playwright.sync_api import Page

sync_api = pytest.importorskip("playwright.sync_api", reason="install the report extra: pip install -e '.[report]'")

pytestmark = pytest.mark.browser

GOALS = Path(__file__).resolve().parents[2] / "goals"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must check the report in a real browser)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of a run with every kind of outcome (scenario telemetry_missing)."""
    try:
        allure_command()
    except ReportError as error:
        _missing(str(error))
    if not Path(CHROMIUM).exists():
        _missing("no chromium; install it with `apt-get install chromium`")
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(GOALS, project / "goals", ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = project / "reports" / "demo"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "goals",
            "-p",
            "no:cacheprovider",
            "--scenario=telemetry_missing",
            "--demo-scale=0.25",
            f"--alluredir={env_dir / 'allure-results'}",
            f"--rootdir={project}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:]
    return build(env_dir)


@pytest.fixture(scope="module")
def outside() -> list[str]:
    """Every request the page makes that is not to the file itself."""
    return []


@pytest.fixture(scope="module")
def page(report: Path, outside: list[str]) -> Iterator[Page]:
    def note(url: str) -> None:
        if not url.startswith(("file:", "data:", "blob:")):
            outside.append(url)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
        tab = context.new_page()
        tab.on("request", lambda request: note(request.url))
        tab.goto(report.as_uri())
        tab.wait_for_selector(".widget")
        yield tab
        browser.close()


def _open(tab: Page, report: Path, fragment: str) -> None:
    tab.goto(f"{report.as_uri()}#{fragment}")
    tab.wait_for_load_state("networkidle")


class TestHtmlReport:
    def test_is_one_file_that_loads_offline(self, report: Path, page: Page, outside: list[str]) -> None:
        """The report is a single index.html and opening it asks the network for nothing."""
        assert [p.name for p in report.parent.iterdir()] == ["index.html"]
        assert outside == []

    def test_the_front_page_says_the_decision(self, report: Path, page: Page) -> None:
        """The report's name, Allure's first line, is the run's headline, and its environment widget repeats it."""
        headline = json.loads((report.parents[1] / "results.json").read_text())["decision"]["headline"]
        assert headline.startswith("DO NOT PROMOTE: events the goals need are missing")
        _open(page, report, "")
        assert page.get_by_text(headline, exact=False).count() >= 1
        assert page.get_by_text("decision", exact=True).count() >= 1

    def test_inconclusive_is_its_own_status_with_its_own_category(self, report: Path, page: Page) -> None:
        """INCONCLUSIVE goals count as Allure's 'unknown', not as skipped, under a category that says why."""
        _open(page, report, "categories")
        page.wait_for_selector("text=Precondition not met")
        assert (
            page.get_by_text("Inconclusive: wait for more data").count()
            + page.get_by_text("Precondition not met").count()
            >= 1
        )
        _open(page, report, "suites")
        page.wait_for_selector("text=goals")
        statuses = page.locator(".status-details, .label_status_unknown, [class*='unknown']")
        assert statuses.count() >= 1

    def test_a_goal_shows_its_sentence_steps_and_plot(self, report: Path, page: Page) -> None:
        """Opening a goal shows its verdict as a sentence, its steps, and a plot that actually loads."""
        _open(page, report, "suites")
        page.get_by_text("goals", exact=True).first.click()
        page.get_by_text("test_planner_p95_reduction", exact=True).first.click()
        page.get_by_text("p95 planner duration at most x0.700 of BASELINE").first.click()
        page.wait_for_selector("text=Compute interval")
        body = page.inner_text("body")
        assert "sprintgate.gate." not in body
        assert "(goal): INCONCLUSIVE." in body
        page.get_by_text("Decide:", exact=False).first.click()
        page.get_by_text("overview.png").first.click()
        image = page.wait_for_selector("img[src^='data:image/png']")
        assert image is not None
        page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image)
