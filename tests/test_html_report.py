"""The change-record report's tooling: where the Allure tool is found, Java, and the offline check.

Stand-in executables (shell scripts in a temporary folder) play allure, npx and java: the real Allure
tool is never run here (``tox -e report`` does that).
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from sprintgate.html_report import ALLURE_VERSION, ReportError, allure_command, build, main

ROOT = Path(__file__).resolve().parent.parent
#: A stand-in for `allure generate --single-file RESULTS -o REPORT --clean`: writes REPORT/index.html
#: (mkdir by its full path: the tests' PATH holds only the stand-ins).
FAKE_ALLURE = f"""\
#!/bin/sh
while [ "$1" != "-o" ]; do shift; done
{shutil.which("mkdir")} -p "$2"
printf '<html><body>analytics off: %s</body></html>' "$ALLURE_NO_ANALYTICS" > "$2/index.html"
"""


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    """A shell script at ``path`` that the current user may run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def one_line(error: pytest.ExceptionInfo[ReportError]) -> str:
    """The error's message, checked to be one line that starts with ``sprintgate:``."""
    message = str(error.value)
    assert message.startswith("sprintgate: ")
    assert "\n" not in message
    return message


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is the whole PATH, with a java in it; ALLURE_CMD and JAVA_HOME unset."""
    folder = tmp_path / "bin"
    executable(folder / "java")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("ALLURE_CMD", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return folder


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A working directory and a repository folder, neither with node_modules yet."""
    cwd, repository = tmp_path / "work", tmp_path / "repository"
    cwd.mkdir()
    repository.mkdir()
    return cwd, repository


class TestDiscovery:
    """The order in which the Allure tool is looked for."""

    def test_allure_cmd_comes_first(
        self, bin_dir: Path, places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ALLURE_CMD wins over an allure on PATH and over node_modules."""
        chosen = executable(tmp_path / "tools" / "allure")
        executable(bin_dir / "allure")
        executable(places[0] / "node_modules" / ".bin" / "allure")
        monkeypatch.setenv("ALLURE_CMD", str(chosen))
        assert allure_command(cwd=places[0], repository=places[1]) == [str(chosen)]

    @pytest.mark.parametrize("state", ["missing", "not executable"])
    def test_a_bad_allure_cmd_is_an_error_not_a_fallback(
        self, bin_dir: Path, places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
    ) -> None:
        """An ALLURE_CMD that cannot run is refused in one line, though an allure is on PATH."""
        chosen = tmp_path / "tools" / "allure"
        if state == "not executable":
            chosen.parent.mkdir()
            chosen.write_text("#!/bin/sh\n")
        executable(bin_dir / "allure")
        monkeypatch.setenv("ALLURE_CMD", str(chosen))
        with pytest.raises(ReportError) as error:
            allure_command(cwd=places[0], repository=places[1])
        assert f"ALLURE_CMD={str(chosen)!r} is not an executable file" in one_line(error)

    def test_path_comes_before_node_modules(self, bin_dir: Path, places: tuple[Path, Path]) -> None:
        """An allure on PATH wins over node_modules/.bin/allure."""
        on_path = executable(bin_dir / "allure")
        executable(places[0] / "node_modules" / ".bin" / "allure")
        assert allure_command(cwd=places[0], repository=places[1]) == [str(on_path)]

    def test_the_current_directory_comes_before_the_repository(self, bin_dir: Path, places: tuple[Path, Path]) -> None:
        """node_modules under the current directory wins over the repository's."""
        here = executable(places[0] / "node_modules" / ".bin" / "allure")
        executable(places[1] / "node_modules" / ".bin" / "allure")
        assert allure_command(cwd=places[0], repository=places[1]) == [str(here)]

    def test_the_repository_node_modules_is_found(self, bin_dir: Path, places: tuple[Path, Path]) -> None:
        """Without one in the current directory, the repository's ``npm ci`` install is used."""
        installed = executable(places[1] / "node_modules" / ".bin" / "allure")
        assert allure_command(cwd=places[0], repository=places[1]) == [str(installed)]

    def test_npx_comes_last_with_the_pinned_version(
        self, bin_dir: Path, places: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With nothing installed, npx runs the pinned allure-commandline (ALLURE_CMD set empty counts as unset)."""
        npx = executable(bin_dir / "npx")
        monkeypatch.setenv("ALLURE_CMD", "")
        assert allure_command(cwd=places[0], repository=places[1]) == [str(npx), "--yes", "allure-commandline@2.46.1"]

    def test_nothing_found_is_one_line(self, bin_dir: Path, places: tuple[Path, Path]) -> None:
        """Without ALLURE_CMD, allure, node_modules or npx, the error names every place and the fixes."""
        with pytest.raises(ReportError) as error:
            allure_command(cwd=places[0], repository=places[1])
        message = one_line(error)
        assert message.startswith("sprintgate: the Allure command-line tool was not found")
        assert str(places[0]) in message
        assert str(places[1]) in message
        assert "set ALLURE_CMD" in message

    def test_the_version_is_the_one_package_json_pins(self) -> None:
        """npx runs the same Allure version that ``npm ci`` installs."""
        package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
        assert package["devDependencies"]["allure-commandline"] == ALLURE_VERSION


class TestJava:
    """The Java runtime the Allure tool needs."""

    def test_no_java_is_one_line(self, bin_dir: Path, places: tuple[Path, Path]) -> None:
        """Without java on PATH and without JAVA_HOME, the error says how to install one."""
        executable(bin_dir / "allure")
        (bin_dir / "java").unlink()
        with pytest.raises(ReportError) as error:
            allure_command(cwd=places[0], repository=places[1])
        assert "needs a Java runtime" in one_line(error)

    def test_java_home_without_java_is_refused(
        self, bin_dir: Path, places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A JAVA_HOME with no bin/java is an error even with java on PATH: Allure would run the missing one."""
        executable(bin_dir / "allure")
        monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
        with pytest.raises(ReportError) as error:
            allure_command(cwd=places[0], repository=places[1])
        assert f"JAVA_HOME={str(tmp_path / 'jdk')!r} has no bin/java" in one_line(error)

    def test_java_home_is_enough(
        self, bin_dir: Path, places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A JAVA_HOME holding bin/java is accepted without java on PATH."""
        allure = executable(bin_dir / "allure")
        (bin_dir / "java").unlink()
        executable(tmp_path / "jdk" / "bin" / "java")
        monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
        assert allure_command(cwd=places[0], repository=places[1]) == [str(allure)]


class TestBuild:
    """Building the single file with a stand-in Allure tool."""

    @pytest.fixture
    def env_dir(self, bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """reports/staging with one Allure result, and ALLURE_CMD pointing at the stand-in."""
        directory = tmp_path / "reports" / "staging"
        (directory / "allure-results").mkdir(parents=True)
        (directory / "allure-results" / "1-result.json").write_text("{}")
        monkeypatch.setenv("ALLURE_CMD", str(executable(tmp_path / "tools" / "allure", FAKE_ALLURE)))
        return directory

    def test_the_report_is_built_with_analytics_off(self, env_dir: Path) -> None:
        """build() writes allure-report/index.html and the tool sees ALLURE_NO_ANALYTICS=true."""
        index = build(env_dir)
        assert index == env_dir / "allure-report" / "index.html"
        assert "analytics off: true" in index.read_text()

    def test_a_network_reference_is_refused(
        self, env_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A generated file that loads a script from the network fails the offline check."""
        calling = FAKE_ALLURE.replace("<body>", '<body><script src="https://cdn.example/x.js"></script>')
        monkeypatch.setenv("ALLURE_CMD", str(executable(tmp_path / "tools" / "calling", calling)))
        with pytest.raises(ReportError) as error:
            build(env_dir)
        assert "references the network" in one_line(error)

    def test_a_failing_tool_is_one_line(self, env_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The tool's exit code and its output, folded into one line."""
        failing = "#!/bin/sh\necho 'Error: first' >&2\necho 'second line' >&2\nexit 3\n"
        monkeypatch.setenv("ALLURE_CMD", str(executable(tmp_path / "tools" / "failing", failing)))
        with pytest.raises(ReportError) as error:
            build(env_dir)
        assert one_line(error) == "sprintgate: allure generate failed (exit 3): Error: first second line"

    def test_no_results_is_one_line(self, bin_dir: Path, tmp_path: Path) -> None:
        """Without Allure results the error gives the pytest command that writes them."""
        with pytest.raises(ReportError) as error:
            build(tmp_path / "reports" / "staging")
        assert "--alluredir=" in one_line(error)

    def test_main_prints_the_path_or_the_error(
        self, env_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The command prints the report's path (exit 0), or the one-line error on stderr (exit 1)."""
        assert main([str(env_dir)]) == 0
        assert capsys.readouterr().out == f"report: {env_dir / 'allure-report' / 'index.html'}\n"
        monkeypatch.setenv("ALLURE_CMD", str(env_dir / "missing"))
        assert main([str(env_dir)]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("sprintgate: ALLURE_CMD=")
        assert err.count("\n") == 1
