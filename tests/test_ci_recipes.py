"""The CI recipes in docs/ci/ and the Dockerfile, read as files (nothing here runs CI or Docker).

Every gate command uses options that exist, every exit code a recipe branches on prints what
``sprintgate.decision.ACTIONS`` says, reports are uploaded even when the gate fails, the history is
restored before the gate and saved after it, secrets come from the CI system's store, and production
waits for staging.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types and types-PyYAML is in no extra

from sprintgate.decision import ACTIONS, EXIT_CODES, EXIT_REPORT_FAILED
from tests.test_cli import HIDDEN_SPELLINGS, copy_goals, declared, help_options, run_sprintgate

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "docs" / "ci"
RECIPES = ("github-actions.yml", "gitlab-ci.yml", "Jenkinsfile")
ENVS = ("staging", "production")
SECRETS = {
    "staging": ("SPRINTGATE_SIGNING_KEY", "STAGING_DATABASE_URL"),
    "production": ("SPRINTGATE_SIGNING_KEY", "PRODUCTION_DATABASE_URL"),
}
_BRANCH = re.compile(r'^\s*(\d+|\*)\)\s*action="([^"]*)"\s*;;\s*$', re.MULTILINE)
_SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")


def text(name: str) -> str:
    return (CI / name).read_text(encoding="utf-8")


def gate_commands(script: str) -> list[list[str]]:
    """The words of each ``sprintgate ...`` command in a shell script, up to its first operator."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["sprintgate"] or words[:3] == ["python", "-m", "sprintgate"]:
            end = next((i for i, word in enumerate(words) if word in {"||", "&&", "|", ";"}), len(words))
            commands.append(words[:end])
    return commands


def option_values(command: list[str]) -> dict[str, str]:
    """``--name=value`` options of a command (the recipes write every value that way)."""
    return dict(word.split("=", 1) for word in command if word.startswith("--") and "=" in word)


# GitHub Actions


def github() -> dict[str, Any]:
    workflow = yaml.safe_load(text("github-actions.yml"))
    assert isinstance(workflow, dict)
    return workflow


def github_job(env: str) -> tuple[str, dict[str, Any]]:
    """The id and the job of the workflow that runs in GitHub environment ``env``."""
    found = [(name, job) for name, job in github()["jobs"].items() if job.get("environment") == env]
    assert len(found) == 1, f"one job with environment {env!r}"
    return found[0]


def step_index(steps: list[dict[str, Any]], uses: str) -> int:
    found = [i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith(f"{uses}@")]
    assert len(found) == 1, f"one {uses} step"
    return found[0]


def gate_step_index(steps: list[dict[str, Any]]) -> int:
    found = [i for i, step in enumerate(steps) if gate_commands(str(step.get("run", "")))]
    assert len(found) == 1, "one step that runs the gate"
    return found[0]


# GitLab CI


def gitlab() -> dict[str, Any]:
    pipeline = yaml.safe_load(text("gitlab-ci.yml"))
    assert isinstance(pipeline, dict)
    return pipeline


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's ``extends``: mappings merge key by key, anything else (lists too) is replaced."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def gitlab_job(env: str) -> tuple[str, dict[str, Any]]:
    """The name and the job (``extends`` resolved) that runs in GitLab environment ``env``."""
    pipeline = gitlab()
    found = []
    for name, job in pipeline.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        resolved = dict(job)
        while "extends" in resolved:
            parent = pipeline[resolved.pop("extends")]
            resolved = merged(parent, resolved)
        if resolved.get("environment", {}).get("name") == env:
            found.append((name, resolved))
    assert len(found) == 1, f"one job with environment {env!r}"
    return found[0]


def gitlab_script(job: Mapping[str, Any]) -> str:
    return "\n".join([*job.get("before_script", []), *job["script"]])


# Jenkins


def jenkins_stage(env: str) -> str:
    """The text of the Jenkinsfile's stage for ``env`` (from its ``stage(...)`` to the next one)."""
    pipeline = text("Jenkinsfile")
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"stage\('([^']*)'\)", pipeline)]
    found = [
        pipeline[start : (starts[i + 1][0] if i + 1 < len(starts) else len(pipeline))]
        for i, (start, name) in enumerate(starts)
        if name.lower().startswith(env)
    ]
    assert len(found) == 1, f"one stage for {env}"
    return found[0]


def jenkins_blocks(stage: str) -> list[str]:
    """The ``sh '''...'''`` scripts of a stage, in order."""
    return re.findall(r"sh '''(.*?)'''", stage, re.DOTALL)


def jenkins_post(stage: str) -> str:
    """What a stage runs in ``post { always { ... } }``."""
    found = re.search(r"post \{\s*always \{(.*)", stage, re.DOTALL)
    assert found is not None, "a post { always { } } block"
    return found.group(1)


def gate_script(recipe: str, env: str) -> str:
    """The shell text of the recipe's job for ``env`` that runs the gate."""
    if recipe == "github-actions.yml":
        steps = github_job(env)[1]["steps"]
        return str(steps[gate_step_index(steps)]["run"])
    if recipe == "gitlab-ci.yml":
        return gitlab_script(gitlab_job(env)[1])
    (script,) = [block for block in jenkins_blocks(jenkins_stage(env)) if gate_commands(block)]
    return script


def runnable_script(recipe: str, env: str) -> str:
    """What runs the gate and maps its code, without installing anything (GitLab: no before_script)."""
    if recipe == "gitlab-ci.yml":
        return "\n".join(gitlab_job(env)[1]["script"])
    return gate_script(recipe, env)


def gate_command(recipe: str, env: str) -> list[str]:
    (command,) = gate_commands(gate_script(recipe, env))
    return command


@pytest.fixture(scope="module")
def known_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """The options ``sprintgate --help`` lists: pytest's own, the installed plugins' (allure-pytest), and
    the sprintgate group of src/sprintgate/plugin.py::pytest_addoption."""
    project = tmp_path_factory.mktemp("project")
    copy_goals(project)
    done = run_sprintgate("--help", "-p", "no:cacheprovider", cwd=project)
    assert done.returncode == 0, done.stderr
    groups = help_options(done.stdout)
    assert "--change-record" in groups["sprintgate release gate"]
    return {option: value for group in groups.values() for option, value in group.items()}


def recipes_and_envs() -> Iterator[tuple[str, str]]:
    for recipe in RECIPES:
        for env in ENVS:
            yield recipe, env


class TestGateCommands:
    """The gate command of every job of every recipe."""

    pytestmark = pytest.mark.parametrize(("recipe", "env"), list(recipes_and_envs()))

    def test_every_option_exists(self, recipe: str, env: str, known_options: dict[str, bool]) -> None:
        """Each option is one that pytest, an installed plugin or the sprintgate plugin declares."""
        options = {word.split("=", 1)[0] for word in gate_command(recipe, env) if word.startswith("-")}
        assert {o for o in options if not declared(o, known_options)} == set()

    def test_values_go_to_options_that_take_one(self, recipe: str, env: str, known_options: dict[str, bool]) -> None:
        """``--name=value`` only for options with a value, bare ``--name`` only for flags."""
        for word in gate_command(recipe, env)[1:]:
            option = word.split("=", 1)[0]
            takes_value = known_options.get(option, known_options.get(HIDDEN_SPELLINGS.get(option, ""), False))
            assert takes_value == ("=" in word), word

    def test_the_job_judges_its_environment_for_the_change_record(self, recipe: str, env: str) -> None:
        """``--env`` is the job's environment; the change record, JUnit XML and Allure results are passed."""
        values = option_values(gate_command(recipe, env))
        assert values["--env"] == env
        assert values["--change-record"] == "$CHANGE_RECORD"
        assert values["--junitxml"] == f"reports/{env}/junit.xml"
        assert values["--alluredir"] == f"reports/{env}/allure-results"

    def test_the_whole_suite_runs(self, recipe: str, env: str) -> None:
        """No path, -k, -m or --deselect: a subset cannot promote (exit 64)."""
        words = gate_command(recipe, env)[1:]
        assert [w for w in words if not w.startswith("--") or w.split("=")[0] in {"--deselect", "--lf"}] == []

    def test_every_exit_code_prints_its_action(self, recipe: str, env: str) -> None:
        """The ``case`` covers each code of ACTIONS with its exact wording, and unknown codes."""
        branches = dict(_BRANCH.findall(gate_script(recipe, env)))
        unknown = branches.pop("*", None)
        assert branches == {str(code): action for code, action in ACTIONS.items()}
        assert unknown is not None
        assert "do not promote" in unknown

    def test_the_job_fails_on_anything_but_zero(self, recipe: str, env: str) -> None:
        """The gate's exit code is kept, printed with its action, and is the job's exit code."""
        script = gate_script(recipe, env).replace("\\\n", " ")
        assert re.search(r"^\s*code=0\s*$", script, re.MULTILINE)
        assert re.search(r"^\s*sprintgate .*\|\| code=\$\?\s*$", script, re.MULTILINE)
        assert 'echo "sprintgate exit $code: $action"' in script
        assert script.rstrip().endswith('exit "$code"')

    def test_an_empty_signing_key_stops_the_job(self, recipe: str, env: str) -> None:
        """Unsigned staging results would be refused by production, so an empty key fails first."""
        assert re.search(r'^\s*: "\$\{SPRINTGATE_SIGNING_KEY:\?', gate_script(recipe, env), re.MULTILINE)

    def test_production_names_the_staging_results(self, recipe: str, env: str) -> None:
        """The production gate reads the staging results it downloaded; staging reads none."""
        values = option_values(gate_command(recipe, env))
        expected = "reports/staging/results.json" if env == "production" else None
        assert values.get("--staging-results") == expected


class TestGateScriptsRun:
    """Each job's gate script, run by the job's shell with a stand-in sprintgate that exits with a code."""

    SHELLS: Mapping[str, str] = {"github-actions.yml": "bash", "gitlab-ci.yml": "bash", "Jenkinsfile": "sh"}

    @pytest.mark.parametrize(("recipe", "env"), list(recipes_and_envs()))
    @pytest.mark.parametrize("code", [*ACTIONS, 99])
    def test_the_action_is_printed_and_the_code_ends_the_job(
        self, recipe: str, env: str, code: int, tmp_path: Path
    ) -> None:
        """The job prints ``sprintgate exit N: <what ACTIONS says>`` and exits with the gate's N."""
        stand_in = tmp_path / "bin" / "sprintgate"
        stand_in.parent.mkdir()
        stand_in.write_text(f"#!/bin/sh\nexit {code}\n")
        stand_in.chmod(0o755)
        (tmp_path / ".venv" / "bin").mkdir(parents=True)
        (tmp_path / ".venv" / "bin" / "activate").write_text("")
        environment = {
            **os.environ,
            "PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}",
            "SPRINTGATE_SIGNING_KEY": "k" * 32,
            "CHANGE_RECORD": "CHG-1234",
            "FLIP": "auto",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
        }
        done = subprocess.run(
            [self.SHELLS[recipe], "-e", "-c", runnable_script(recipe, env)],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == code, done.stderr
        action = ACTIONS.get(code, "unknown exit code: do not promote; read the log")
        assert f"sprintgate exit {code}: {action}" in done.stdout.splitlines()

    @pytest.mark.parametrize(("recipe", "env"), [(r, e) for r, e in recipes_and_envs() if r != "gitlab-ci.yml"])
    def test_an_empty_signing_key_fails_before_the_gate(self, recipe: str, env: str, tmp_path: Path) -> None:
        """With SPRINTGATE_SIGNING_KEY empty the script stops, naming the key, and never runs the gate."""
        environment = {
            **os.environ,
            "SPRINTGATE_SIGNING_KEY": "",
            "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        }
        (tmp_path / "sprintgate").write_text("#!/bin/sh\necho gate ran\n")
        (tmp_path / "sprintgate").chmod(0o755)
        done = subprocess.run(
            [self.SHELLS[recipe], "-e", "-c", runnable_script(recipe, env)],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode != 0
        assert "SPRINTGATE_SIGNING_KEY" in done.stderr
        assert "gate ran" not in done.stdout


class TestRecipesInstallAndReport:
    """What surrounds the gate in every recipe."""

    @pytest.mark.parametrize("recipe", RECIPES)
    def test_sprintgate_is_installed_from_the_index(self, recipe: str) -> None:
        """Each recipe installs sprintgate with pip and says that a team pins the version."""
        assert re.search(r"pip install (--quiet )?sprintgate$", text(recipe), re.MULTILINE)
        assert "A team pins a version here (sprintgate==" in text(recipe)
        assert "this repository's own CI installs the wheel it builds" in text(recipe)

    @pytest.mark.parametrize(("recipe", "env"), list(recipes_and_envs()))
    def test_the_html_report_is_built(self, recipe: str, env: str) -> None:
        """Each job builds the single-file report of its environment."""
        assert re.search(rf"python -m sprintgate\.html_report reports/{env}(;|$)", text(recipe), re.MULTILINE)

    @pytest.mark.parametrize("recipe", RECIPES)
    def test_no_secret_is_written_in_the_recipe(self, recipe: str) -> None:
        """No DSN or key value appears: they come from the CI system's secret store."""
        assert not re.search(r"postgres(ql)?://", text(recipe))
        assert not re.search(r"(SIGNING_KEY|DATABASE_URL)\s*[:=]\s*(?!credentials\()['\"]?[A-Za-z0-9]", text(recipe))


class TestGitHubActions:
    """docs/ci/github-actions.yml."""

    @pytest.mark.parametrize("env", ENVS)
    def test_secrets_come_from_github_secrets(self, env: str) -> None:
        """The key and the environment's DSN reach the gate step as ``${{ secrets.NAME }}``."""
        workflow = github()
        job = github_job(env)[1]
        step = job["steps"][gate_step_index(job["steps"])]
        environment = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
        found = {name: _SECRET_EXPRESSION.fullmatch(str(environment.get(name, ""))) for name in SECRETS[env]}
        assert {name: m.group(1) if m else None for name, m in found.items()} == {name: name for name in SECRETS[env]}

    @pytest.mark.parametrize("env", ENVS)
    def test_history_is_restored_before_and_saved_after(self, env: str) -> None:
        """actions/cache/restore precedes the gate, actions/cache/save follows it always, both keyed by the change record."""
        steps = github_job(env)[1]["steps"]
        restore, gate, save = (
            step_index(steps, "actions/cache/restore"),
            gate_step_index(steps),
            step_index(steps, "actions/cache/save"),
        )
        assert restore < gate < save
        assert "always()" in steps[save]["if"]
        restored, saved = steps[restore]["with"], steps[save]["with"]
        assert restored["path"] == saved["path"] == f"reports/{env}/history"
        assert restored["key"] == saved["key"]
        assert saved["key"].startswith(restored["restore-keys"])
        assert restored["restore-keys"] == f"sprintgate-history-{env}-${{{{ inputs.change_record }}}}-"

    @pytest.mark.parametrize("env", ENVS)
    def test_artifacts_are_uploaded_even_on_failure(self, env: str) -> None:
        """After the gate, the reports (JUnit XML and HTML included) are uploaded with ``if: always()``."""
        steps = github_job(env)[1]["steps"]
        upload = step_index(steps, "actions/upload-artifact")
        assert upload > gate_step_index(steps)
        assert "always()" in steps[upload]["if"]
        assert set(steps[upload]["with"]["path"].split()) == {f"reports/{env}/", "reports/summary.md"}
        html = [s for s in steps if "sprintgate.html_report" in str(s.get("run", ""))]
        assert len(html) == 1
        assert "always()" in html[0]["if"]

    def test_production_needs_staging_and_an_approval(self) -> None:
        """Production runs after a passing staging job, in the protected environment, on staging's results."""
        staging_id, staging = github_job("staging")
        production = github_job("production")[1]
        assert staging_id in ([production["needs"]] if isinstance(production["needs"], str) else production["needs"])
        steps = production["steps"]
        download = step_index(steps, "actions/download-artifact")
        assert download < gate_step_index(steps)
        uploaded = staging["steps"][step_index(staging["steps"], "actions/upload-artifact")]["with"]
        assert steps[download]["with"] == {"name": uploaded["name"], "path": "reports"}

    def test_one_run_per_change_record(self) -> None:
        """Runs of one change record queue instead of racing on the history."""
        concurrency = github()["concurrency"]
        assert "inputs.change_record" in concurrency["group"]
        assert concurrency["cancel-in-progress"] is False


class TestGitLabCI:
    """docs/ci/gitlab-ci.yml."""

    def test_secrets_are_ci_variables_not_values(self) -> None:
        """No ``variables:`` defines the key or a DSN; the header names them for Settings > CI/CD."""
        pipeline = gitlab()
        defined = set(pipeline.get("variables", {}))
        for job in pipeline.values():
            if isinstance(job, dict):
                defined |= set(job.get("variables", {}))
        names = {name for env in ENVS for name in SECRETS[env]}
        assert defined & names == set()
        assert all(name in text("gitlab-ci.yml") for name in names)

    @pytest.mark.parametrize("env", ENVS)
    def test_history_is_cached_by_change_record_even_on_failure(self, env: str) -> None:
        """The job's cache (pulled before the script, pushed after it) holds the history of its change record."""
        cache = gitlab_job(env)[1]["cache"]
        assert cache["key"] == f"sprintgate-history-{env}-$CHANGE_RECORD"
        assert cache["paths"] == [f"reports/{env}/history/"]
        assert cache["when"] == "always"
        assert cache.get("policy", "pull-push") == "pull-push"

    @pytest.mark.parametrize("env", ENVS)
    def test_artifacts_are_kept_even_on_failure(self, env: str) -> None:
        """The reports and the JUnit XML the gate wrote are artifacts with ``when: always``."""
        job = gitlab_job(env)[1]
        artifacts = job["artifacts"]
        assert artifacts["when"] == "always"
        assert set(artifacts["paths"]) == {f"reports/{env}/", "reports/summary.md"}
        assert artifacts["reports"]["junit"] == option_values(gate_command("gitlab-ci.yml", env))["--junitxml"]

    def test_production_needs_staging_and_is_started_by_hand(self) -> None:
        """Production comes in a later stage, takes staging's artifacts, and waits for someone to start it."""
        pipeline = gitlab()
        staging_name = gitlab_job("staging")[0]
        production = gitlab_job("production")[1]
        assert pipeline["stages"].index(gitlab_job("staging")[1]["stage"]) < pipeline["stages"].index(
            production["stage"]
        )
        assert {"job": staging_name, "artifacts": True} in production["needs"]
        (rule,) = production["rules"]
        assert rule["when"] == "manual"
        assert rule["allow_failure"] is False
        assert production["environment"]["name"] == "production"

    @pytest.mark.parametrize("env", ENVS)
    def test_one_job_per_change_record(self, env: str) -> None:
        """Jobs of one change record and environment queue instead of racing on the history."""
        assert gitlab_job(env)[1]["resource_group"] == f"sprintgate-{env}-$CHANGE_RECORD"


class TestJenkinsfile:
    """docs/ci/Jenkinsfile."""

    @pytest.mark.parametrize("env", ENVS)
    def test_secrets_are_jenkins_credentials(self, env: str) -> None:
        """The key and the environment's DSN are bound with ``credentials(...)`` in the stage."""
        bound = dict(re.findall(r"(\w+) = credentials\('([\w-]+)'\)", jenkins_stage(env)))
        assert set(SECRETS[env]) <= bound.keys()

    @pytest.mark.parametrize("env", ENVS)
    def test_history_is_restored_before_and_saved_after(self, env: str) -> None:
        """The shared history folder is copied in before the gate and back in ``post { always }``."""
        stage = jenkins_stage(env)
        blocks = jenkins_blocks(stage)
        gate = next(i for i, block in enumerate(blocks) if gate_commands(block))
        restore = f'cp -R "$SPRINTGATE_HISTORY/$CHANGE_RECORD/{env}/." reports/{env}/history/'
        assert any(restore in block for block in blocks[:gate])
        assert f'cp -R reports/{env}/history/. "$SPRINTGATE_HISTORY/$CHANGE_RECORD/{env}/"' in jenkins_post(stage)

    @pytest.mark.parametrize("env", ENVS)
    def test_artifacts_are_archived_even_on_failure(self, env: str) -> None:
        """``post { always }`` records the JUnit XML and archives the reports."""
        post = jenkins_post(jenkins_stage(env))
        assert f"testResults: 'reports/{env}/junit.xml'" in post
        assert re.search(rf"archiveArtifacts .*artifacts: 'reports/{env}/\*\*, reports/summary.md'", post)

    def test_production_needs_staging_and_an_approval(self) -> None:
        """Production comes after staging, asks for approval, and unstashes the staging results."""
        pipeline = text("Jenkinsfile")
        assert pipeline.index("stage('Staging gate')") < pipeline.index("stage('Production gate')")
        assert "stash name: 'staging-results', includes: 'reports/staging/results.json'" in jenkins_post(
            jenkins_stage("staging")
        )
        production = jenkins_stage("production")
        assert re.search(r"input \{\s*message ", production)
        assert production.index("unstash 'staging-results'") < production.index(
            gate_script("Jenkinsfile", "production")
        )


class TestExitCodeTable:
    """The exit-code table of docs/ci/README.md."""

    @staticmethod
    def table() -> str:
        """The table as generated from sprintgate.decision."""
        outcomes = {code: outcome.value for outcome, code in EXIT_CODES.items()}
        outcomes[EXIT_REPORT_FAILED] = "reports could not be written"
        rows = ["| exit | outcome | what CI should do |", "| --- | --- | --- |"]
        for code, action in ACTIONS.items():
            outcome = outcomes.get(code) or f"{pytest.ExitCode(code).name.lower().replace('_', ' ')} (pytest)"
            rows.append(f"| {code} | {outcome} | {action} |")
        return "\n".join(rows) + "\n"

    def test_every_exit_code_has_an_action(self) -> None:
        """The gate's codes and pytest's 2 to 6 each say what CI should do."""
        from_pytest = [
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
            pytest.ExitCode.USAGE_ERROR,
            pytest.ExitCode.NO_TESTS_COLLECTED,
            pytest.ExitCode.MAX_WARNINGS_ERROR,
        ]
        assert {*EXIT_CODES.values(), EXIT_REPORT_FAILED, *map(int, from_pytest)} == set(ACTIONS)

    def test_the_readme_table_is_the_generated_one(self) -> None:
        """The README's table says, word for word, what decision.ACTIONS says."""
        assert self.table() in text("README.md")


class TestDockerfile:
    """The Dockerfile at the repository root (no engine here: it is parsed, not built)."""

    @staticmethod
    def instructions() -> list[tuple[str, str]]:
        """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
        lines = [
            line
            for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("#")
        ]
        joined = "\n".join(lines).replace("\\\n", " ")
        found = []
        for line in joined.splitlines():
            if line.strip():
                keyword, _, arguments = line.strip().partition(" ")
                found.append((keyword, arguments.strip()))
        return found

    def test_every_instruction_is_known(self) -> None:
        """Each line is a Dockerfile instruction in upper case."""
        known = {
            "FROM",
            "RUN",
            "CMD",
            "LABEL",
            "EXPOSE",
            "ENV",
            "ADD",
            "COPY",
            "ENTRYPOINT",
            "VOLUME",
            "USER",
            "WORKDIR",
            "ARG",
            "STOPSIGNAL",
            "HEALTHCHECK",
            "SHELL",
        }
        assert {keyword for keyword, _ in self.instructions()} <= known

    def test_the_base_image_is_python_slim(self) -> None:
        """The image starts from python:3.12-slim, in one stage."""
        froms = [arguments for keyword, arguments in self.instructions() if keyword == "FROM"]
        assert froms == ["python:3.12-slim"]
        assert self.instructions()[0][0] == "FROM"

    def test_the_project_is_installed_then_a_non_root_user_runs_it(self) -> None:
        """pip installs the project, and the last USER, after every RUN, is not root."""
        instructions = self.instructions()
        runs = [i for i, (keyword, _) in enumerate(instructions) if keyword == "RUN"]
        users = [(i, arguments) for i, (keyword, arguments) in enumerate(instructions) if keyword == "USER"]
        assert any("pip install /tmp/sprintgate" in instructions[i][1] for i in runs)
        last, user = users[-1]
        assert last > max(runs)
        assert user.split(":")[0] not in {"root", "0"}

    def test_the_entrypoint_is_sprintgate_in_work(self) -> None:
        """``docker run IMAGE ARGS`` runs ``sprintgate ARGS`` in /work, the mounted checkout."""
        instructions = dict(self.instructions())
        assert json.loads(instructions["ENTRYPOINT"]) == ["sprintgate"]
        assert instructions["WORKDIR"] == "/work"

    def test_the_header_documents_the_run_and_the_missing_engine(self) -> None:
        """The header comment shows the docker run line and says it was never built here."""
        header = (ROOT / "Dockerfile").read_text(encoding="utf-8").split("\nFROM ", 1)[0]
        assert 'docker run --rm -v "$PWD:/work"' in header
        assert "-e STAGING_DATABASE_URL" in header
        assert "sprintgate --env=staging" in header
        assert "no Docker engine" in header
