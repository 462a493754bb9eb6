"""The ``sprintgate`` command: ``sprintgate [pytest args]`` is ``pytest goals/ [pytest args]``.

    sprintgate --env=staging --change-record=CHG-1234
    python -m sprintgate --env=staging --change-record=CHG-1234     # the same

``goals`` goes first unless an argument already names an existing file or folder (``goals/test_x.py``,
``goals/test_x.py::test_goal``, ``other/goals``); every other argument reaches pytest as given, and
the exit code is pytest's (``sprintgate.decision.ACTIONS`` says what CI should do with it). The value
of an option in :data:`VALUE_OPTIONS` is never taken for a path (``--junitxml reports/junit.xml``);
give any other plugin's option as ``--option=value``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

#: The folder the gate judges when no argument names one.
GOALS = "goals"

#: Options that take the next argument as their value: every one of sprintgate's (its plugin), and
#: pytest's and allure-pytest's whose value may be an existing path or a free word (tests/test_cli.py
#: checks that each one takes a value and that none of sprintgate's is missing).
VALUE_OPTIONS = frozenset(
    {
        # sprintgate (src/sprintgate/plugin.py)
        "--env", "--scenario", "--baseline", "--post", "--flip", "--staging-results", "--force",
        "--change-record", "--confidence", "--target", "--demo-scale", "--reports-dir",
        # pytest
        "-k", "-m", "-p", "-c", "--config-file", "-o", "--override-ini", "-W", "--pythonwarnings",
        "-r", "--report-chars", "--rootdir", "--basetemp", "--confcutdir", "--ignore", "--ignore-glob",
        "--deselect", "--junitxml", "--junit-xml", "--log-file", "--debug", "--tb", "--maxfail",
        # allure-pytest
        "--alluredir",
    }
)  # fmt: skip


def pytest_args(argv: Sequence[str], cwd: Path | None = None) -> list[str]:
    """pytest's arguments for ``sprintgate argv``: ``goals`` first unless an argument names a path."""
    here = Path.cwd() if cwd is None else cwd
    takes_value = positional_only = False
    for arg in argv:
        if takes_value:
            takes_value = False
        elif arg == "--" and not positional_only:
            positional_only = True
        elif arg.startswith("-") and not positional_only:
            takes_value = arg in VALUE_OPTIONS
        elif (here / arg.split("::", 1)[0]).exists():
            return list(argv)
    return [GOALS, *argv]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pytest goals/ [argv]`` (``argv``: the command line's) and return pytest's exit code."""
    args = pytest_args(sys.argv[1:] if argv is None else argv)
    if args[0] == GOALS and not Path(GOALS).is_dir():
        print(
            f"sprintgate: there is no {GOALS}/ folder in {Path.cwd()}; run sprintgate in the folder that holds "
            f"{GOALS}/, or name the suite's folder (sprintgate path/to/{GOALS}).",
            file=sys.stderr,
        )
        return int(pytest.ExitCode.USAGE_ERROR)
    return int(pytest.main(args))
