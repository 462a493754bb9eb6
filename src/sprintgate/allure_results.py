"""What the Allure results carry, so a reviewer who never ran the gate can check it from the report.

Per test: a title in words, the goal text, labels (epic, feature = kind, severity), parameters, one
step per phase with its evidence (SQL with bound parameters, preconditions, numbers) and the plots.
Per run: ``environment.properties``, ``executor.json`` and ``categories.json``.
allure-pytest ships no type hints, hence the ``no-untyped-call`` ignores on its calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import allure

from sprintgate import contract
from sprintgate.evidence import Evidence
from sprintgate.gate import RunInfo
from sprintgate.preconditions import PreconditionCheck
from sprintgate.queries import load_query
from sprintgate.report import write_atomically
from sprintgate.results import GoalResult, Kind

#: Non-pass results sorted for a reviewer. Messages look like "<goal> [<kind>]: FAIL (<code>): ...".
NOT_ENOUGH_DATA = "no_data|insufficient_sample|straddles_target|window_too_short|windows_unequal|window_not_covered|window_not_closed|data_not_complete"
CATEGORIES = [
    {"name": "Goal not met", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*\[goal\]: FAIL .*"},
    {"name": "Guardrail breached", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*\[guardrail\]: FAIL .*"},
    {
        "name": "Inconclusive: instrumentation missing",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"(?s).*INCONCLUSIVE \(instrumentation_missing\).*",
    },
    {
        "name": "Inconclusive: not enough data",
        "matchedStatuses": ["skipped"],
        "messageRegex": rf"(?s).*INCONCLUSIVE \(({NOT_ENOUGH_DATA})\).*",
    },
    {
        "name": "Precondition not met",
        "matchedStatuses": ["failed", "skipped"],
        "messageRegex": r"(?s).*(\[precondition\]: FAIL|INCONCLUSIVE \((flags_off|flags_on_in_baseline|windows_not_comparable|placebo_fired)\)).*",
    },
    {"name": "Infrastructure error", "matchedStatuses": ["broken"]},
]
EPIC = "Auto-assign rollout: " + " + ".join(contract.FLAG_NAMES)


def describe(
    info: RunInfo,
    evidence: Evidence,
    checks: Mapping[str, PreconditionCheck],
    result: GoalResult,
    text: str,
    plots: Mapping[str, bytes],
) -> None:
    """Title, labels, parameters, steps and attachments of the current test's Allure result."""
    dynamic = allure.dynamic
    dynamic.title(result.title)  # type: ignore[no-untyped-call]
    dynamic.description(text)  # type: ignore[no-untyped-call]
    dynamic.epic(EPIC)  # type: ignore[no-untyped-call]
    dynamic.feature(result.kind.value)  # type: ignore[no-untyped-call]
    dynamic.story(result.goal)  # type: ignore[no-untyped-call]
    critical = result.kind is not Kind.GOAL
    dynamic.severity(allure.severity_level.CRITICAL if critical else allure.severity_level.NORMAL)  # type: ignore[no-untyped-call]
    if info.change_record_url:
        dynamic.link(info.change_record_url, name=info.change_record)  # type: ignore[no-untyped-call]
    parameters = {
        "env": info.env,
        "baseline": str(evidence.baseline.window),
        "post": str(evidence.post.window),
        "target": "n/a" if result.target is None else f"{result.target:g}",
        "confidence": f"{info.confidence:g}",
        "verdict": result.verdict.value.upper(),
    }
    for name, value in parameters.items():
        dynamic.parameter(name, value)

    queries = [
        (label, q)
        for label, window in (("BASELINE", evidence.baseline), ("POST", evidence.post))
        for q in window.queries
    ]
    with allure.step(f"Fetch evidence: {len(queries)} queries, once for the run"):
        for label, query in queries:
            bound = "\n".join(f"-- :{k} = {v}" for k, v in sorted(query.parameters.items()))
            allure.attach(
                f"-- {label}: {query.rows:,} rows in {query.seconds:.3f} s\n{bound}\n{load_query(query.name).text}",
                name=f"{label} {query.name}.sql",
                attachment_type=allure.attachment_type.TEXT,
            )
    with allure.step("Check preconditions"):
        allure.attach(
            json.dumps({name: check.result.to_dict() for name, check in checks.items()}, indent=2),
            name="preconditions.json",
            attachment_type=allure.attachment_type.JSON,
        )
    with allure.step(f"Compute interval: {result.statistic}"):
        allure.attach(
            json.dumps(result.to_dict(), indent=2), name="evidence.json", attachment_type=allure.attachment_type.JSON
        )
        if result.goal in plots:
            allure.attach(plots[result.goal], name=f"{result.goal}.png", attachment_type=allure.attachment_type.PNG)
    with allure.step(f"Decide: {result.verdict.value.upper()}"):
        if "overview" in plots:
            allure.attach(plots["overview"], name="overview.png", attachment_type=allure.attachment_type.PNG)


def executor(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``executor.json`` from the variables a CI service sets (GitHub Actions, GitLab CI, Jenkins)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        url = f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{environ.get('GITHUB_RUN_ID', '')}"
        return {
            "name": "GitHub Actions",
            "type": "github",
            "buildName": environ.get("GITHUB_WORKFLOW", "") + " #" + environ.get("GITHUB_RUN_NUMBER", ""),
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


def write_run_files(
    directory: Path, info: RunInfo, evidence: Evidence | None, environ: Mapping[str, str], scrub: Sequence[str] = ()
) -> None:
    """``environment.properties``, ``executor.json`` and ``categories.json`` of the run."""
    properties = {
        "env": info.env,
        "source": info.source,
        "baseline": str(evidence.baseline.window) if evidence else str(info.baseline),
        "post": str(evidence.post.window) if evidence else str(info.post),
        "flags": ", ".join(contract.FLAG_NAMES),
        "confidence": f"{info.confidence:g}",
        **{f"version.{k}": v for k, v in info.versions.items()},
        **({"change_record": info.change_record} if info.change_record else {}),
        **({"forced": info.forced} if info.forced else {}),
    }
    text = "".join(f"{k} = {str(v).replace(chr(10), ' ')}\n" for k, v in properties.items())
    for secret in scrub:
        text = text.replace(secret, "***")
    write_atomically(directory / "environment.properties", text)
    write_atomically(directory / "categories.json", json.dumps(CATEGORIES, indent=2) + "\n")
    found = executor(environ)
    if found is not None:
        write_atomically(directory / "executor.json", json.dumps(found, indent=2) + "\n")
