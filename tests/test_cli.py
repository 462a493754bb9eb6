"""The ``sprintgate`` command: ``pytest goals/`` with the caller's arguments, as users run it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from sprintgate.cli import GOALS, VALUE_OPTIONS, main, pytest_args

ROOT = Path(__file__).resolve().parent.parent
GROUP = "sprintgate release gate"  # the option group of src/sprintgate/plugin.py::pytest_addoption
_HELP_OPTION = re.compile(r"^  (-\S.*?)(?:\s{2,}|$)")  # an option line of pytest's --help, not its wrapped text
_HELP_PART = re.compile(r"^(-{1,2}[\w-]+)([= ]\S+)?$")


def copy_goals(parent: Path) -> Path:
    """A copy of this repository's goals/ under ``parent`` (what a team's checkout holds)."""
    return Path(shutil.copytree(ROOT / "goals", parent / GOALS, ignore=shutil.ignore_patterns("__pycache__")))


def run_sprintgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m sprintgate ARGS`` in ``cwd``, as a user or CI job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sprintgate", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def help_options(text: str) -> dict[str, dict[str, bool]]:
    """Every option in a ``--help`` text, per option group: option -> whether it takes a value."""
    groups: dict[str, dict[str, bool]] = {}
    group = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            group = line[:-1]
            continue
        found = _HELP_OPTION.match(line)
        if found is None:
            continue
        for part in found.group(1).split(", "):
            option = _HELP_PART.match(part)
            assert option is not None, f"an option line of --help that this parser does not know: {line!r}"
            groups.setdefault(group, {})[option.group(1)] = option.group(2) is not None
    return groups


#: Spellings that pytest's --help hides: of two long options that differ only in dashes it shows the longer.
HIDDEN_SPELLINGS = {"--junitxml": "--junit-xml", "--junitprefix": "--junit-prefix"}


def declared(option: str, shown: Mapping[str, bool]) -> bool:
    """Whether ``option`` is one of the ``shown`` options of --help, or a spelling --help hides."""
    return option in shown or HIDDEN_SPELLINGS.get(option) in shown


@pytest.fixture(scope="module")
def gate_help(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``python -m sprintgate --help`` run in a folder holding a copy of goals/."""
    project = tmp_path_factory.mktemp("project")
    copy_goals(project)
    done = run_sprintgate("--help", "-p", "no:cacheprovider", cwd=project)
    assert done.returncode == 0, done.stderr
    return done.stdout


class TestPytestArgs:
    """How the command's arguments become pytest's."""

    def test_goals_come_first_when_no_path_is_named(self, tmp_path: Path) -> None:
        """Without a path, goals is put first and every argument follows in order."""
        args = ["--env=staging", "--change-record", "CHG-1", "-v"]
        assert pytest_args(args, cwd=tmp_path) == [GOALS, *args]

    def test_an_existing_folder_is_respected(self, tmp_path: Path) -> None:
        """A folder that exists is the suite: nothing is added."""
        (tmp_path / "suite").mkdir()
        assert pytest_args(["-v", "suite", "--env=staging"], cwd=tmp_path) == ["-v", "suite", "--env=staging"]

    def test_a_node_id_names_its_file(self, tmp_path: Path) -> None:
        """``file.py::test`` counts as a path when the file exists."""
        (tmp_path / "goals").mkdir()
        (tmp_path / "goals" / "test_x.py").touch()
        assert pytest_args(["goals/test_x.py::test_goal"], cwd=tmp_path) == ["goals/test_x.py::test_goal"]

    def test_a_missing_path_does_not_replace_goals(self, tmp_path: Path) -> None:
        """A path that does not exist is passed on after goals, so pytest reports it."""
        assert pytest_args(["goals/test_typo.py"], cwd=tmp_path) == [GOALS, "goals/test_typo.py"]

    @pytest.mark.parametrize("option", ["--junitxml", "--alluredir", "--reports-dir", "--staging-results", "-k"])
    def test_an_option_value_is_not_a_path(self, tmp_path: Path, option: str) -> None:
        """The existing path after an option that takes a value is that option's value, not the suite."""
        (tmp_path / "reports").mkdir()
        assert pytest_args([option, "reports", "-v"], cwd=tmp_path) == [GOALS, option, "reports", "-v"]

    def test_a_flag_does_not_take_the_path_after_it(self, tmp_path: Path) -> None:
        """A flag (``-v``) takes no value, so the folder after it is the suite."""
        (tmp_path / "suite").mkdir()
        assert pytest_args(["-v", "suite"], cwd=tmp_path) == ["-v", "suite"]

    def test_after_a_double_dash_everything_is_positional(self, tmp_path: Path) -> None:
        """After ``--`` even a name that starts with a dash is a path."""
        (tmp_path / "-odd").mkdir()
        assert pytest_args(["--", "-odd"], cwd=tmp_path) == ["--", "-odd"]


class TestValueOptions:
    """The options whose value the command never takes for a path."""

    def test_every_sprintgate_option_is_listed(self, gate_help: str) -> None:
        """Each option of the plugin that takes a value is in VALUE_OPTIONS."""
        plugin = help_options(gate_help)[GROUP]
        assert plugin, f"no {GROUP!r} group in --help"
        assert {o for o, value in plugin.items() if value} <= VALUE_OPTIONS

    def test_every_listed_option_takes_a_value(self, gate_help: str) -> None:
        """Each entry is an option that pytest or a plugin declares with a value (no typo, no flag)."""
        with_value = {o: True for group in help_options(gate_help).values() for o, value in group.items() if value}
        assert {o for o in VALUE_OPTIONS if not declared(o, with_value)} == set()


class TestCommand:
    """``sprintgate`` and ``python -m sprintgate`` as processes."""

    def test_help_lists_the_sprintgate_options(self, gate_help: str) -> None:
        """In a folder holding goals/, --help shows the plugin's group: goals/ was passed to pytest."""
        assert f"{GROUP}:" in gate_help.splitlines()
        assert {"--env", "--change-record", "--staging-results"} <= help_options(gate_help)[GROUP].keys()

    def test_an_explicit_path_is_used_as_given(self, tmp_path: Path) -> None:
        """``sprintgate elsewhere/goals --help`` loads that suite and adds no goals/ (there is none here)."""
        copy_goals(tmp_path / "elsewhere")
        done = run_sprintgate("elsewhere/goals", "--help", "-p", "no:cacheprovider", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"{GROUP}:" in done.stdout.splitlines()

    def test_no_goals_folder_is_a_one_line_usage_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without goals/ and without a path, the command says where it looked and exits 4."""
        monkeypatch.chdir(tmp_path)
        assert main(["--env=staging"]) == 4
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            f"sprintgate: there is no goals/ folder in {tmp_path}; run sprintgate in the folder that holds goals/, "
            "or name the suite's folder (sprintgate path/to/goals).\n"
        )

    def test_the_console_script_is_declared(self) -> None:
        """The installed distribution's ``sprintgate`` script runs ``sprintgate.cli:main``."""
        (script,) = entry_points(group="console_scripts", name="sprintgate")
        assert script.value == "sprintgate.cli:main"
        assert script.load() is main
