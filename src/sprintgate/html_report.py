"""The change-record report: Allure results turned into one self-contained HTML file.

    python -m sprintgate.html_report reports/staging

reads ``reports/staging/allure-results`` and writes ``reports/staging/allure-report/index.html`` with
the Allure command-line tool (it needs a Java runtime), found in this order:

1. ``ALLURE_CMD``: the path of the tool (or a name on ``PATH``), when set; nothing else is tried then;
2. ``allure`` on ``PATH``;
3. ``node_modules/.bin/allure`` under the current directory, then under this repository (``npm ci``
   installs the version ``package.json`` pins);
4. ``npx --yes allure-commandline@2.46.1`` when ``npx`` is on ``PATH`` (it downloads the tool from the
   npm registry on first use, so the machine needs to reach it).

Analytics are switched off and the file is checked to reference nothing outside itself, so it opens
with the network off and can be attached to a change record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: The Allure command-line tool's version: the one package.json pins, and the one npx runs.
ALLURE_VERSION = "2.46.1"
#: The checkout's root in an editable install (in an installed wheel: site-packages, without node_modules).
_REPOSITORY = Path(__file__).resolve().parent.parent.parent
_NODE_BIN = Path("node_modules") / ".bin" / "allure"

#: References that would make the report call out when opened.
_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|googletagmanager|google-analytics""", re.IGNORECASE)


class ReportError(RuntimeError):
    """The HTML report could not be built, or it is not self-contained."""


def allure_command(*, cwd: Path | None = None, repository: Path = _REPOSITORY) -> list[str]:
    """The command that runs the Allure tool (see the module's docstring for the order it looks in)."""
    command = _find_allure(Path.cwd() if cwd is None else cwd, repository)
    _require_java()
    return command


def _find_allure(cwd: Path, repository: Path) -> list[str]:
    path = os.environ.get("PATH")
    chosen = os.environ.get("ALLURE_CMD")
    if chosen:
        found = shutil.which(chosen, path=path) if os.sep not in chosen else chosen
        if found is None or not Path(found).is_file() or not os.access(found, os.X_OK):
            raise ReportError(
                f"sprintgate: ALLURE_CMD={chosen!r} is not an executable file (from the environment); "
                "point it at the Allure command-line tool, or unset it to search PATH, node_modules and npx."
            )
        return [found]
    on_path = shutil.which("allure", path=path)
    if on_path is not None:
        return [on_path]
    for folder in (cwd, repository):
        local = folder / _NODE_BIN
        if local.is_file() and os.access(local, os.X_OK):
            return [str(local)]
    npx = shutil.which("npx", path=path)
    if npx is not None:
        return [npx, "--yes", f"allure-commandline@{ALLURE_VERSION}"]
    raise ReportError(
        "sprintgate: the Allure command-line tool was not found (ALLURE_CMD unset, no allure on PATH, no "
        f"node_modules/.bin/allure in {cwd} or {repository}, no npx); install Node.js and npm, or run "
        f"`npm install allure-commandline@{ALLURE_VERSION}`, or set ALLURE_CMD."
    )


def _require_java() -> None:
    """Allure's launcher runs ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, ``java`` from PATH otherwise."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            raise ReportError(
                f"sprintgate: JAVA_HOME={home!r} has no bin/java (from the environment); the Allure tool runs "
                "that one, so point JAVA_HOME at a Java runtime or unset it to use java from PATH."
            )
    elif shutil.which("java", path=os.environ.get("PATH")) is None:
        raise ReportError(
            "sprintgate: the Allure command-line tool needs a Java runtime and there is no java on PATH; "
            "install one (Debian: apt-get install default-jre-headless) or set JAVA_HOME."
        )


def build(env_dir: Path) -> Path:
    """Build ``env_dir/allure-report/index.html`` from ``env_dir/allure-results``; returns its path."""
    results, report = env_dir / "allure-results", env_dir / "allure-report"
    if not any(results.glob("*-result.json")):
        raise ReportError(
            f"sprintgate: no Allure results in {results}; run `pytest goals/ --alluredir={results}` first."
        )
    environment = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
    done = subprocess.run(
        [
            *allure_command(),
            "generate",
            "--single-file",
            "--name",
            _headline(env_dir),
            str(results),
            "-o",
            str(report),
            "--clean",
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    index = report / "index.html"
    if done.returncode != 0 or not index.exists():
        output = " ".join((done.stderr or done.stdout).split())[-600:]
        raise ReportError(f"sprintgate: allure generate failed (exit {done.returncode}): {output}")
    external = sorted(set(_EXTERNAL.findall(index.read_text(encoding="utf-8", errors="replace"))))
    if external:
        raise ReportError(
            f"sprintgate: {index} references the network ({', '.join(external)}); it would not load offline."
        )
    return index


def _headline(env_dir: Path) -> str:
    """The run's decision as the report's name, the first line of Allure's front page."""
    try:
        document = json.loads((env_dir / "results.json").read_text(encoding="utf-8"))
        return str(document["decision"]["headline"])
    except (OSError, ValueError, KeyError, TypeError):
        return "sprintgate: no results.json beside the Allure results; the decision is in the run's log"


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
