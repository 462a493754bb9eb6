"""Runs `pytest goals/ --env=staging` in this process and prints one JSON line: wall seconds, peak RSS,
exit code, the planner goal's verdict and each evidence query's seconds (bench/run.py calls it)."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pytest


def peak_rss_mb() -> float:
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries that over exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def main() -> None:
    reports, *args = sys.argv[1:]
    started = time.perf_counter()
    code = pytest.main(["goals", "--env=staging", "-q", "-p", "no:cacheprovider", f"--reports-dir={reports}", *args])
    wall = time.perf_counter() - started
    document = json.loads((Path(reports) / "staging" / "results.json").read_text())
    planner: dict[str, object] = next((g for g in document["goals"] if g["id"] == "planner_p95_reduction"), {})
    print(
        json.dumps(
            {
                "wall_s": wall,
                "rss_mb": peak_rss_mb(),
                "exit": int(code),
                "planner_verdict": planner.get("verdict"),
                "planner_ci": planner.get("ci"),
                "verdicts": {g["id"]: g["verdict"] for g in document["goals"]},
                "query_s": sum(q["seconds"] for q in document["queries"]),
            }
        ),
        file=sys.__stdout__,
        flush=True,
    )


if __name__ == "__main__":
    main()
