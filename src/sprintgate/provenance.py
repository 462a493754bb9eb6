"""What reproduces a run: the environment, source, windows, settings, versions and records it rests
on. Printed in the report header and written into every report."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sprintgate.text import terminal
from sprintgate.windows import Window


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """What reproduces a run. The windows are ``None`` until the source opens when they come from
    ``--flip=auto``."""

    env: str
    suite: str
    source: str
    baseline: Window | None
    post: Window | None
    confidence: float
    seed: int
    versions: Mapping[str, str]
    flip: str | None = None
    change_record: str | None = None
    change_record_url: str | None = None
    forced: str | None = None
    staging: Mapping[str, str] | None = None  # the staging evidence a promotion relies on
    snapshot: str | None = None
    notes: tuple[str, ...] = ()
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def windows(self) -> str:
        if self.baseline is None or self.post is None:
            return "BASELINE and POST from the flag flip found in the telemetry (--flip=auto)"
        return f"BASELINE {self.baseline} POST {self.post} (half-open, UTC)"

    def with_windows(self, baseline: Window, post: Window, notes: tuple[str, ...], snapshot: str) -> RunInfo:
        return replace(self, baseline=baseline, post=post, notes=(*self.notes, *notes), snapshot=snapshot)

    def lines(self) -> list[str]:
        """The report header, one fact a line, every value from outside escaped for the terminal."""
        lines = [
            f"sprintgate: {terminal(self.suite)}: env={self.env} source={terminal(self.source)}",
            f"sprintgate: {self.windows}" + (f" flip={terminal(self.flip)}" if self.flip else ""),
            f"sprintgate: confidence={self.confidence:g} seed={self.seed} "
            + " ".join(f"{k}={terminal(v)}" for k, v in self.versions.items()),
        ]
        if self.change_record:
            lines.append(
                f"sprintgate: change record {terminal(self.change_record)}"
                + (f" ({terminal(self.change_record_url)})" if self.change_record_url else "")
            )
        if self.staging:
            lines.append(
                f"sprintgate: promoting on staging evidence {terminal(self.staging.get('sha256', '')[:16])} of {terminal(self.staging.get('generated_at', ''))}"
            )
        if self.forced:
            lines.append(f"sprintgate: FORCED without a passing staging run: {terminal(self.forced)}")
        return lines + [f"sprintgate: {terminal(note)}" for note in self.notes]


def versions(root: Path) -> dict[str, str]:
    """The package version and, in a git checkout, the commit (with ``+dirty`` for local changes)."""
    try:
        found = {"sprintgate": version("sprintgate")}
    except PackageNotFoundError:
        found = {"sprintgate": "unknown"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = git("status", "--porcelain", "--untracked-files=no")
        found["git"] = git("rev-parse", "--short=12", "HEAD") + ("+dirty" if dirty else "")
    return found
