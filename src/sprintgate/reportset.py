"""Writing a run's reports as one set: into a temporary directory, then swapped in whole.

A crash or a failed write never leaves a mix of this run's files and the last run's; stale plots go
with the set they belonged to. ``history/`` (every run's results.json, for looks and the summary) and
anything the gate did not write there (``allure-results``) move into the new set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: What the gate writes in ``reports/<env>/``: the set it replaces as a whole.
OURS = ("results.json", "summary.md", "metrics.csv", "plots")
HISTORY = "history"


class ReportError(RuntimeError):
    """The reports could not be written: one line, and nothing half-written left behind."""


def write_file(path: Path, content: str | bytes, mode: int) -> None:
    """Write ``path`` atomically with ``mode`` (a temporary file beside it, flushed, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_history(directory: Path) -> list[dict[str, Any]]:
    """Earlier runs' results documents of one environment, oldest first (unreadable ones skipped)."""
    found = []
    for path in sorted((directory / HISTORY).glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict):
            found.append(document)
    return sorted(found, key=lambda d: str(d.get("generated_at", "")))


def mark_running(directory: Path, name: str, document: Mapping[str, Any], mode: int) -> None:
    """Leave ``history/<name>`` saying a run is under way: a run killed before it writes its set (SIGKILL,
    a lost machine) stays on record as one that never finished, and no older PASS looks like the newest."""
    history = directory / HISTORY
    try:
        history.mkdir(parents=True, exist_ok=True)
        write_file(history / name, json.dumps(document, indent=2) + "\n", mode)
    except OSError as error:
        raise ReportError(
            f"sprintgate: cannot write to the reports directory {directory} ({error.strerror or error})."
        ) from None


def write_set(
    directory: Path, files: Mapping[str, str | bytes], *, history_name: str, mode: int, replaces: str | None = None
) -> None:
    """Replace the gate's set in ``directory`` by ``files`` (relative names; ``plots/x.png`` allowed)
    and add ``history/<history_name>`` (a copy of ``results.json``) in place of ``history/<replaces>``."""
    parent = directory.parent
    dir_mode = mode | ((mode & 0o444) >> 2)  # directories: x wherever r
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new.", dir=parent))
    except OSError as error:
        raise ReportError(
            f"sprintgate: cannot create the reports directory under {parent} ({error.strerror})."
        ) from None
    try:
        staging.chmod(dir_mode)
        for name, content in files.items():
            write_file(staging / name, content, mode)
        if (staging / "plots").is_dir():
            (staging / "plots").chmod(dir_mode)
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.name not in OURS and not entry.name.startswith("."):
                    entry.rename(staging / entry.name)
        history = staging / HISTORY
        history.mkdir(exist_ok=True)
        history.chmod(dir_mode)
        write_file(history / history_name, files["results.json"], mode)
        if replaces is not None:
            (history / replaces).unlink(missing_ok=True)
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=parent))
            old.rmdir()
            directory.rename(old)
        staging.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        _restore(staging, directory)
        raise ReportError(
            f"sprintgate: the reports could not be written to {directory} ({error.strerror or error}); "
            "the previous set is unchanged."
        ) from None


def _restore(staging: Path, directory: Path) -> None:
    """Move back what the failed swap took from the old set, then drop the partial one."""
    if staging.is_dir() and directory.is_dir():
        for entry in staging.iterdir():
            if entry.name not in OURS and entry.name != HISTORY and not (directory / entry.name).exists():
                with contextlib.suppress(OSError):
                    entry.rename(directory / entry.name)
    shutil.rmtree(staging, ignore_errors=True)
