"""Runs `pytest goals/ --env=staging` in this process and prints one JSON line: the seconds from the
spawn (``BENCH_SPAWNED``, a ``time.time()`` set by bench/run.py) to the header and to the end, peak RSS,
the exit code, every check's verdict, estimate and interval, and each query's seconds (bench/run.py
calls it; the arguments after the reports folder go to pytest)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SPAWNED = float(os.environ.get("BENCH_SPAWNED", time.time()))


def peak_rss_mb() -> float:
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries that over exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


class Clock:
    """Notes when pytest has the report header (sprintgate's lines are printed right after)."""

    header_s: float | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_report_collectionfinish(self) -> list[str]:
        self.header_s = time.time() - SPAWNED
        return []


def outcome(check: dict[str, Any]) -> dict[str, Any]:
    """What must agree between two runs on the same data: verdict, numbers and reason."""
    return {key: check.get(key) for key in ("verdict", "estimate", "interval", "baseline", "post", "reason")}


def main() -> None:
    reports, *args = sys.argv[1:]
    clock = Clock()
    code = pytest.main(
        ["goals", "--env=staging", "-q", "-p", "no:cacheprovider", f"--reports-dir={reports}", *args], plugins=[clock]
    )
    done = time.time() - SPAWNED
    path = Path(reports) / "staging" / "results.json"
    document = json.loads(path.read_text()) if path.is_file() else {"goals": [], "queries": [], "notes": []}
    queries: dict[str, float] = {}
    for query in document["queries"]:
        queries[query["name"]] = queries.get(query["name"], 0.0) + query["seconds"]
    print(
        json.dumps(
            {
                "in_process_s": done,
                "header_s": clock.header_s,
                "rss_mb": peak_rss_mb(),
                "exit": int(code),
                "verdicts": {g["id"]: g["verdict"] for g in document["goals"]},
                "outcomes": {g["id"]: outcome(g) for g in document["goals"]},
                "queries": queries,
                "rows": {q["name"]: q["rows"] for q in document["queries"]},
                "notes": document.get("notes", []),
            }
        ),
        file=sys.__stdout__,
        flush=True,
    )


if __name__ == "__main__":
    main()
