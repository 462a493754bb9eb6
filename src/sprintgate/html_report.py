"""The change-record report: Allure results turned into one self-contained HTML file.

    python -m sprintgate.html_report reports/demo

reads ``reports/demo/allure-results`` and writes ``reports/demo/allure-report/index.html`` with the
Allure command-line tool pinned in ``package.json`` (``npm ci`` installs it; it needs a Java runtime).
Analytics are switched off and the file is checked to reference nothing outside itself, so it opens
with the network off and can be attached to a change record.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sprintgate.resources import resource_dir

#: References that would make the report call out when opened.
_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|googletagmanager|google-analytics""", re.IGNORECASE)


class ReportError(RuntimeError):
    """The HTML report could not be built, or it is not self-contained."""


def allure_command() -> Path:
    """The pinned Allure command-line tool, installed by ``npm ci`` beside package.json."""
    root = resource_dir("sql").parent
    command = root / "node_modules" / ".bin" / "allure"
    if not command.exists():
        raise ReportError(f"sprintgate: {command} is missing; run `npm ci` in {root} (needs Node.js and npm).")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ReportError(
            "sprintgate: the Allure command-line tool needs a Java runtime; install one "
            "(Debian: apt-get install default-jre-headless) or set JAVA_HOME."
        )
    return command


def build(env_dir: Path) -> Path:
    """Build ``env_dir/allure-report/index.html`` from ``env_dir/allure-results``; returns its path."""
    results, report = env_dir / "allure-results", env_dir / "allure-report"
    if not any(results.glob("*-result.json")):
        raise ReportError(
            f"sprintgate: no Allure results in {results}; run `pytest goals/ --alluredir={results}` first."
        )
    environment = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
    done = subprocess.run(
        [str(allure_command()), "generate", "--single-file", str(results), "-o", str(report), "--clean"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    index = report / "index.html"
    if done.returncode != 0 or not index.exists():
        raise ReportError(
            f"sprintgate: allure generate failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-600:]}"
        )
    external = sorted(set(_EXTERNAL.findall(index.read_text(encoding="utf-8", errors="replace"))))
    if external:
        raise ReportError(
            f"sprintgate: {index} references the network ({', '.join(external)}); it would not load offline."
        )
    return index


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m sprintgate.html_report reports/<env>", file=sys.stderr)
        return 2
    try:
        print(f"report: {build(Path(argv[0]))}")
    except ReportError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
