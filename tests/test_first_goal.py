"""The README's "Write your first goal" works as written: its three files, in an empty project, PASS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _files() -> dict[str, str]:
    """Each Python block of the section, under the file name the sentence before it names."""
    text = README.read_text()
    section = text.split("## Write your first goal", 1)[1].split("\n## ", 1)[0]
    found = {}
    for name, body in re.findall(r"`(goals/[a-z0-9_]+\.py)`[^\n]*\n\n```python\n(.*?)```", section, re.DOTALL):
        found[name] = body
    return found


class TestFirstGoal:
    def test_the_readme_names_three_files(self) -> None:
        """The section shows the suite module, the conftest and one goal."""
        assert set(_files()) == {"goals/search.py", "goals/conftest.py", "goals/test_search_p95.py"}

    def test_an_empty_project_with_them_promotes(self, pytester: pytest.Pytester) -> None:
        """pytest goals/ in a project holding only those files: the demo data PASSes and promotes."""
        (pytester.path / "goals").mkdir()
        (pytester.path / "goals" / "__init__.py").write_text("")
        for name, body in _files().items():
            (pytester.path / name).write_text(body)
        result = pytester.runpytest_subprocess("goals", "--demo-scale", "0.5")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["PROMOTE: 1 goal passed and every precondition holds (6 of 6 checks judged)"])


class TestBesideOtherSuites:
    def test_a_suite_with_its_own_env_option_is_unaffected(self, pytester: pytest.Pytester) -> None:
        """Installed sprintgate stays out of a project that does not opt in: its own --env works, no
        sprintgate option is registered and nothing of sprintgate (or scipy) is imported."""
        pytester.makeconftest("def pytest_addoption(parser):\n    parser.addoption('--env', default='local')\n")
        pytester.makepyfile(
            test_app=(
                "import sys\n\n"
                "def test_env(request):\n"
                "    assert request.config.getoption('--env') == 'qa'\n"
                "    assert not [m for m in sys.modules if m.startswith(('sprintgate', 'scipy'))]\n"
            )
        )
        result = pytester.runpytest_subprocess("--env=qa")
        result.assert_outcomes(passed=1)
        assert "--demo-scale" not in pytester.runpytest_subprocess("--help").stdout.str()
