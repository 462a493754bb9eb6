"""The change-record report as a reviewer opens it: `pytest goals/ --alluredir`, the documented report
command, and the single HTML file in headless Chromium with the network off.

Needs `npm ci` (the pinned Allure tool), a Java runtime, Debian's chromium and the `report` extra
(playwright); `tox -e report` and .ci/run provide them. Outside CI a missing tool skips with the
command that installs it; in CI it fails, so a report that was never checked cannot pass.
"""

from __future__ import annotations

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
SCREENSHOT = Path(__file__).resolve().parents[2] / "reports" / "allure-report.png"
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
    shutil.copytree(GOALS, project / "goals")
    env_dir = project / "reports" / "demo"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "goals",
            "-p",
            "no:cacheprovider",
            "--scenario",
            "telemetry_missing",
            "--demo-scale",
            "0.1",
            f"--alluredir={env_dir / 'allure-results'}",
            f"--rootdir={project}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    return build(env_dir)


def _note_outside(url: str, outside: list[str]) -> None:
    if not url.startswith(("file:", "data:", "blob:")):
        outside.append(url)


@pytest.fixture(scope="module")
def outside() -> list[str]:
    """Every request the page makes that is not to the file itself."""
    return []


@pytest.fixture(scope="module")
def page(report: Path, outside: list[str]) -> Iterator[Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
        tab = context.new_page()
        tab.on("request", lambda request: _note_outside(request.url, outside))
        tab.goto(report.as_uri() + "#suites")
        tab.wait_for_selector("text=goals")
        yield tab
        browser.close()


class TestHtmlReport:
    def test_is_one_file_that_loads_offline(self, report: Path, page: Page, outside: list[str]) -> None:
        """The report is a single index.html and opening it asks the network for nothing."""
        assert [p.name for p in report.parent.iterdir()] == ["index.html"]
        assert outside == []

    def test_shows_every_goal_with_its_verdict(self, page: Page) -> None:
        """Every goal module is listed, and the status counts match the run: 1 failed, 8 passed, 3 inconclusive."""
        tab = page
        tab.get_by_text("goals", exact=True).first.click()
        for module in sorted(p.stem for p in GOALS.glob("test_*.py")):
            assert tab.get_by_text(module, exact=True).count() == 1
        tab.goto(tab.url.split("#")[0] + "#categories")
        tab.wait_for_selector("text=Inconclusive: instrumentation missing")
        assert tab.get_by_text("Precondition not met").count() >= 1

    def test_a_goal_shows_its_reason_evidence_and_plot(self, page: Page) -> None:
        """Opening a goal shows its title, reason, evidence attachments, and a plot that actually loads."""
        tab = page
        tab.goto(tab.url.split("#")[0] + "#suites")
        tab.get_by_text("goals", exact=True).first.click()
        tab.get_by_text("test_job_success_rate", exact=True).click()
        tab.get_by_text("Job success rate not worse by > 5 points").first.click()
        tab.wait_for_selector("text=Compute interval")
        tab.get_by_text("Compute interval", exact=False).first.click()
        tab.get_by_text("job_success_rate.png").first.click()
        image = tab.wait_for_selector("img[src^='data:image/png'], img[src*='attachment'], img")
        tab.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOT), full_page=True)
        assert tab.get_by_text("Severity: critical").count() == 1
        assert tab.get_by_text("'PASS'").count() >= 1

    def test_an_inconclusive_goal_shows_its_reason(self, page: Page) -> None:
        """An INCONCLUSIVE goal is shown with its reason code and the missing event type, not as a bare skip."""
        tab = page
        tab.goto(tab.url.split("#")[0] + "#suites")
        tab.get_by_text("test_planner_p95_reduction", exact=True).click()
        tab.get_by_text("Planner p95 reduced by >= 30 %").first.click()
        tab.wait_for_selector("text=INCONCLUSIVE (instrumentation_missing)")
        assert tab.get_by_text("no auto_assign.quote events", exact=False).count() >= 1
