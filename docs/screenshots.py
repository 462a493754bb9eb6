"""Screenshots of what a reviewer sees, for every demo scenario: docs/img/<case>/{terminal,summary,overview,allure}.png.

    tox -e screenshots            # or: python docs/screenshots.py [case ...]

Each case runs ``pytest goals/`` on the embedded demo exactly as a user would, then photographs the
terminal output, summary.md (rendered as GitHub renders it), the overview plot and the front page of
the one-file Allure report in headless Chromium. Needs the ``report`` extra, ``npm ci`` (Allure),
Java and chromium, like ``tox -e report``.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from playwright.sync_api import Page, sync_playwright

from sprintgate.html_report import build

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str
    scale: str
    exit_code: int


CASES = (
    Case("rollout_met", "rollout_met", "0.25", 0),
    Case("rollout_regressed", "rollout_regressed", "0.25", 1),
    Case("telemetry_missing", "telemetry_missing", "0.25", 1),
    Case("flags_off", "flags_off", "0.25", 1),
    Case("dirty", "dirty", "0.25", 75),
    # Too little data: the same rollout at 3 % of the traffic.
    Case("too_early", "rollout_met", "0.03", 75),
)

_PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; padding: 16px; background: {background}; color: {color};
       font: 14px/1.45 {font}; }}
pre {{ margin: 0; white-space: pre; font: 13px/1.35 "DejaVu Sans Mono", monospace; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
h1 {{ font-size: 22px; border-bottom: 1px solid #d0d7de; }} h2 {{ font-size: 18px; }}
</style><body>{body}</body>"""


def _run(case: Case, project: Path) -> tuple[str, Path]:
    env_dir = project / "reports" / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "goals",
            "-p",
            "no:cacheprovider",
            "--color=no",
            f"--scenario={case.scenario}",
            f"--demo-scale={case.scale}",
            f"--alluredir={env_dir / 'allure-results'}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    if done.returncode != case.exit_code:
        raise SystemExit(f"{case.name}: exit {done.returncode}, expected {case.exit_code}\n{done.stdout[-3000:]}")
    return done.stdout, env_dir


def _shoot(page: Page, body: str, path: Path, *, dark: bool) -> None:
    document = _PAGE.format(
        body=body,
        background="#1e1e1e" if dark else "#ffffff",
        color="#d4d4d4" if dark else "#1f2328",
        font="-apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif",
    )
    page.set_content(document)
    page.screenshot(path=str(path), full_page=True)


def shoot(cases: tuple[Case, ...]) -> None:
    markdown = MarkdownIt("commonmark").enable("table")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 400})
        for case in cases:
            with tempfile.TemporaryDirectory() as scratch:
                project = Path(scratch)
                shutil.copytree(ROOT / "goals", project / "goals", ignore=shutil.ignore_patterns("__pycache__"))
                shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
                stdout, env_dir = _run(case, project)
                out = OUT / case.name
                out.mkdir(parents=True, exist_ok=True)
                _shoot(page, f"<pre>{html.escape(stdout)}</pre>", out / "terminal.png", dark=True)
                summary = (env_dir / "summary.md").read_text(encoding="utf-8")
                _shoot(page, markdown.render(summary), out / "summary.png", dark=False)
                shutil.copy(env_dir / "plots" / "overview.png", out / "overview.png")
                report = build(env_dir)
                front = browser.new_page(viewport={"width": 1500, "height": 900})
                front.goto(report.as_uri())
                front.wait_for_selector(".widget")
                front.wait_for_timeout(500)
                front.screenshot(path=str(out / "allure.png"))
                front.close()
                print(f"{case.name}: {', '.join(sorted(p.name for p in out.iterdir()))}")
        browser.close()


def main(argv: list[str]) -> int:
    chosen = tuple(c for c in CASES if not argv or c.name in argv)
    unknown = set(argv) - {c.name for c in CASES}
    if unknown:
        print(f"unknown case(s): {', '.join(sorted(unknown))}; known: {', '.join(c.name for c in CASES)}")
        return 2
    shoot(chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
