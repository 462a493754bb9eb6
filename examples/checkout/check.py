"""Runs the demo scenarios of this rollout and compares the gate's verdicts with expected.toml.

    python check.py                   # every scenario in expected.toml
    python check.py conversion_drop   # only the named ones

For each scenario: ``python -m pytest goals/ --scenario NAME`` in a subprocess (with the interpreter
running this script, so the sprintgate installed beside it), then ``reports/demo/results.json`` is
read and the exit code, the run's verdict and every check's verdict are compared with expected.toml.
One line per scenario; exit 1 on any mismatch, 2 when expected.toml or a scenario name is wrong.
Standard library only: it needs sprintgate installed (``pip install sprintgate``), not its repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected.toml"
RESULTS = HERE / "reports" / "demo" / "results.json"
TIMEOUT_S = 600
VERDICTS = ("pass", "fail", "inconclusive", "error", "incomplete")


class UsageError(Exception):
    """expected.toml or the command line is wrong: one line, exit 2."""


def load_expected() -> dict[str, dict[str, Any]]:
    """Scenario -> {exit_code, verdict, checks}, validated before anything runs."""
    try:
        with EXPECTED.open("rb") as handle:
            table = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{EXPECTED.name} cannot be read: {error}") from None
    for name, entry in table.items():
        where = f"[{name}] in {EXPECTED.name}"
        if not isinstance(entry, dict) or set(entry) != {"exit_code", "verdict", "checks"}:
            raise UsageError(f"{where} must hold exactly exit_code, verdict and a checks table")
        if isinstance(entry["exit_code"], bool) or not isinstance(entry["exit_code"], int):
            raise UsageError(f"{where}: exit_code must be a whole number, got {entry['exit_code']!r}")
        checks = entry["checks"]
        if not isinstance(checks, dict) or not checks:
            raise UsageError(f"{where}: checks must be a table of check id = verdict")
        for check, verdict in (("the run", entry["verdict"]), *checks.items()):
            if verdict not in VERDICTS:
                raise UsageError(f"{where}: the verdict of {check} is {verdict!r}; known: {', '.join(VERDICTS)}")
    if not table:
        raise UsageError(f"{EXPECTED.name} names no scenario")
    return table


def run_scenario(name: str) -> tuple[int, dict[str, Any] | None, str]:
    """The exit code of ``pytest goals/ --scenario NAME``, the results it wrote (``None`` when it
    wrote none for this scenario), and pytest's output."""
    started = time.time()
    command = [sys.executable, "-m", "pytest", "goals/", "--scenario", name]
    done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    output = done.stdout + done.stderr
    try:
        fresh = RESULTS.stat().st_mtime >= started
        document = json.loads(RESULTS.read_text(encoding="utf-8")) if fresh else None
    except (OSError, ValueError):
        document = None
    # Never compare a results.json left by an earlier run of another scenario.
    if document is not None and not str(document.get("source", "")).startswith(f"demo scenario {name} "):
        document = None
    return done.returncode, document, output


def differences(expected: dict[str, Any], code: int, document: dict[str, Any] | None) -> list[str]:
    """What differs from expected.toml, in words; empty when the run is as expected."""
    found = []
    if code != expected["exit_code"]:
        found.append(f"exit {code}, expected {expected['exit_code']}")
    if document is None:
        return [*found, f"no {RESULTS.relative_to(HERE)} was written for this scenario"]
    if document.get("verdict") != expected["verdict"]:
        found.append(f"run verdict {document.get('verdict')}, expected {expected['verdict']}")
    judged = {g.get("id"): g.get("verdict") for g in document.get("goals") or ()}
    for check, verdict in expected["checks"].items():
        if judged.get(check) != verdict:
            found.append(f"{check} {judged.get(check, 'not judged')}, expected {verdict}")
    found += [
        f"{check} {verdict}, not in {EXPECTED.name}"
        for check, verdict in judged.items()
        if check not in expected["checks"]
    ]
    return found


def main(argv: list[str]) -> int:
    try:
        expected = load_expected()
        unknown = [name for name in argv if name not in expected]
        if unknown:
            raise UsageError(f"scenario {unknown[0]!r} is not in {EXPECTED.name}; known: {', '.join(expected)}")
    except UsageError as error:
        print(f"check.py: {error}.", file=sys.stderr)
        return 2
    names = argv or list(expected)
    began, mismatched = time.perf_counter(), 0
    for name in names:
        started = time.perf_counter()
        code, document, output = run_scenario(name)
        found = differences(expected[name], code, document)
        seconds = time.perf_counter() - started
        if found:
            mismatched += 1
            print(f"MISMATCH  {name}: {'; '.join(found)} ({seconds:.0f} s)", flush=True)
            print("\n".join(f"    | {line}" for line in output.rstrip().splitlines()[-15:]), flush=True)
        else:
            assert document is not None  # differences() reports a missing document
            checks = len(expected[name]["checks"])
            print(
                f"ok        {name}: exit {code}, verdict {document['verdict']}, {checks} checks as expected ({seconds:.0f} s)",
                flush=True,
            )
    total = time.perf_counter() - began
    print(f"check.py: {len(names) - mismatched} of {len(names)} scenarios as expected in {total:.0f} s.")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
