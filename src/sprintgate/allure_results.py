"""What the Allure results carry, so a reviewer who never ran the gate can check it from the report.

Per test: a title in words, the goal text, labels (epic = the suite, feature = kind, severity),
parameters, one step per phase with its evidence (the compiled SQL with bound parameters, the
preconditions, the numbers) and the plots. Per run: ``environment.properties`` (the headline first),
``executor.json`` and ``categories.json``. INCONCLUSIVE is Allure's ``unknown`` status, not a skip.
allure-pytest ships no type hints, hence the ``no-untyped-call`` ignores on its calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import allure

from sprintgate.reportset import write_file
from sprintgate.results import GoalResult, Kind
from sprintgate.run import Run
from sprintgate.text import terminal

#: Non-pass results sorted for a reviewer, by the structured verdict carried in each result's labels.
CATEGORIES = [
    {
        "name": "Guardrail breached (roll back)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*\(guardrail\): FAIL\..*",
    },
    {"name": "Goal not met", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*\(goal\): FAIL\..*"},
    {
        "name": "Precondition not met",
        "matchedStatuses": ["failed", "unknown"],
        "messageRegex": r"(?s).*\(precondition\): (FAIL|INCONCLUSIVE)\..*",
    },
    {"name": "Inconclusive: wait for more data", "matchedStatuses": ["unknown"]},
    {"name": "Could not measure", "matchedStatuses": ["broken"]},
]


def annotate(run: Run, result: GoalResult) -> None:
    """Title, labels, parameters, steps and attachments of the current test's Allure result."""
    info, evidence = run.info, run.evidence
    assert info is not None
    assert evidence is not None
    dynamic = allure.dynamic
    declared = run.declared.get(result.goal)
    text = getattr(declared.check, "text", "") if declared is not None else ""
    dynamic.title(terminal(result.title))  # type: ignore[no-untyped-call]
    dynamic.description(text or result.reason)  # type: ignore[no-untyped-call]
    dynamic.epic(terminal(run.suite.name))  # type: ignore[no-untyped-call]
    dynamic.feature(result.kind.value)  # type: ignore[no-untyped-call]
    dynamic.story(result.goal)  # type: ignore[no-untyped-call]
    dynamic.tag(f"verdict:{result.verdict.value}")  # type: ignore[no-untyped-call]
    critical = result.kind is not Kind.GOAL and not result.advisory
    dynamic.severity(allure.severity_level.CRITICAL if critical else allure.severity_level.NORMAL)  # type: ignore[no-untyped-call]
    if info.change_record_url:
        dynamic.link(info.change_record_url, name=terminal(info.change_record or "change record"))  # type: ignore[no-untyped-call]
    parameters = {
        "env": info.env,
        "baseline": str(evidence.baseline.window),
        "post": str(evidence.post.window),
        "target": result.unit.format(result.target),
        "confidence": f"{info.confidence:g}",
        "verdict": result.verdict.value.upper(),
    }
    for name, value in parameters.items():
        dynamic.parameter(name, value)
    with allure.step(f"Fetch evidence: {len(evidence.queries)} queries on one snapshot ({info.snapshot})"):
        for query in evidence.queries:
            bound = "\n".join(f"-- :{k} = {v}" for k, v in sorted(query.parameters.items()))
            allure.attach(
                run._scrub(f"-- {query.rows:,} grouped rows in {query.seconds:.3f} s\n{bound}\n{query.text}"),
                name=f"{query.name}.sql",
                attachment_type=allure.attachment_type.TEXT,
            )
    with allure.step("Check preconditions"):
        allure.attach(
            json.dumps({name: check.result.to_dict() for name, check in run.checks.items()}, indent=2),
            name="preconditions.json",
            attachment_type=allure.attachment_type.JSON,
        )
    with allure.step(f"Compute interval: {terminal(result.measured)}"):
        allure.attach(
            json.dumps(result.to_dict(), indent=2), name="evidence.json", attachment_type=allure.attachment_type.JSON
        )
        image = run.plot(result.goal)
        if image is not None:
            allure.attach(image, name=f"{result.goal}.png", attachment_type=allure.attachment_type.PNG)
    with allure.step(f"Decide: {result.verdict.value.upper()} (kind: {result.kind.value})"):
        allure.attach(run.overview(), name="overview.png", attachment_type=allure.attachment_type.PNG)


def executor(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``executor.json`` from the variables a CI service sets (GitHub Actions, GitLab CI, Jenkins)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{environ.get('GITHUB_RUN_ID', '')}"
        return {
            "name": "GitHub Actions",
            "type": "github",
            "buildName": f"{environ.get('GITHUB_WORKFLOW', '')} #{environ.get('GITHUB_RUN_NUMBER', '')}",
            "buildUrl": url,
        }
    if environ.get("GITLAB_CI") == "true":
        return {
            "name": "GitLab CI",
            "type": "gitlab",
            "buildName": f"pipeline {environ.get('CI_PIPELINE_ID', '')}",
            "buildUrl": environ.get("CI_JOB_URL", ""),
        }
    if environ.get("JENKINS_URL"):
        return {
            "name": "Jenkins",
            "type": "jenkins",
            "buildName": f"{environ.get('JOB_NAME', '')} #{environ.get('BUILD_NUMBER', '')}",
            "buildUrl": environ.get("BUILD_URL", ""),
        }
    if environ.get("CI"):
        return {"name": "CI", "type": "ci", "buildName": environ.get("BUILD_NUMBER", "local CI run")}
    return None


_PREFIXES = ("sprintgate.gate.GoalNotMet: ", "sprintgate.gate.GoalInconclusive: ", "INCONCLUSIVE: ")


def _as_sentences(directory: Path, run: Run) -> None:
    """Messages read as sentences (no exception class in front), and INCONCLUSIVE tests get Allure's
    own ``unknown`` status (allure-pytest records them as skips)."""
    inconclusive = {c for c, o in run.outcomes.items() if o == "inconclusive"}
    for path in directory.glob("*-result.json"):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        stories = {label.get("value") for label in document.get("labels", []) if label.get("name") == "story"}
        details = document.setdefault("statusDetails", {})
        message = str(details.get("message", ""))
        for prefix in _PREFIXES:
            message = message.removeprefix(prefix)
        changed = message != details.get("message", "")
        details["message"] = message
        if stories & inconclusive and document.get("status") == "skipped":
            document["status"] = "unknown"
            changed = True
        if changed:
            write_file(path, json.dumps(document), run.settings.file_mode)


def finish_allure(directory: Path, run: Run, environ: Mapping[str, str]) -> None:
    """The run's files in the Allure results: the headline first in the environment widget."""
    info, decision = run.info, run.decision
    if info is None or decision is None or not directory.is_dir():
        return
    evidence = run.evidence
    properties = {
        "decision": decision.line(),
        "next": decision.next_step,
        "checks_judged": f"{decision.judged} of {decision.total}",
        "env": info.env,
        "suite": info.suite,
        "source": info.source,
        "baseline": str(evidence.baseline.window) if evidence else str(info.baseline),
        "post": str(evidence.post.window) if evidence else str(info.post),
        "flags": ", ".join(run.suite.flags),
        "confidence": f"{info.confidence:g}",
        **{f"version.{k}": v for k, v in info.versions.items()},
        **({"change_record": info.change_record} if info.change_record else {}),
        **({"forced": info.forced} if info.forced else {}),
    }
    text = "".join(f"{k} = {terminal(str(v))}\n" for k, v in properties.items())
    write_file(directory / "environment.properties", run._scrub(text), run.settings.file_mode)
    write_file(directory / "categories.json", json.dumps(CATEGORIES, indent=2) + "\n", run.settings.file_mode)
    found = executor(environ)
    if found is not None:
        write_file(directory / "executor.json", json.dumps(found, indent=2) + "\n", run.settings.file_mode)
    _as_sentences(directory, run)
