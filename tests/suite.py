"""The auto-assign suite (goals/) as the engine's tests use it: its goals, and a run against a database."""

from __future__ import annotations

import importlib
import os
import pwd
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from goals.rollout import SUITE
from sprintgate.config import resolve
from sprintgate.goals import Goal
from sprintgate.run import Run

GOALS_DIR = Path(__file__).resolve().parent.parent / "goals"
ROOT = GOALS_DIR.parent


def declared_goals() -> list[tuple[Goal, Path]]:
    """Every GOAL of goals/, with its module's path."""
    found = []
    for path in sorted(GOALS_DIR.glob("test_*.py")):
        module = importlib.import_module(f"goals.{path.stem}")
        goal = getattr(module, "GOAL", None)
        if isinstance(goal, Goal):
            found.append((goal.with_text((module.__doc__ or "").strip()), path))
    return found


GOALS = [goal for goal, _ in declared_goals()]


def windows(scenario: str) -> dict[str, str]:
    assert SUITE.demo is not None
    base, post, _ = SUITE.demo.windows(scenario)
    return {"baseline": str(base), "post": str(post)}


def staging_run(connection: psycopg.Connection[Any], scenario: str, tmp: Path, **options: Any) -> Run:
    """A run of the whole suite as ``--env staging`` against the database behind ``connection``,
    its reports under ``tmp``; prepared and opened."""
    cli = {"env": "staging", **windows(scenario), "reports_dir": str(tmp / "reports"), **options}
    settings = resolve({}, cli)
    info = connection.info
    dsn = f"host={info.host} port={info.port} user={info.user} dbname={info.dbname}"
    run = Run(settings=settings, suite=SUITE, root=tmp, environ={"STAGING_DATABASE_URL": dsn}, say=lambda _: None)
    for goal, path in declared_goals():
        run.declare(goal, path)
    run.prepare(set(run.declared), None)
    run.open()
    return run


def with_target(goal_id: str, text: str) -> Goal:
    goal = next(g for g in GOALS if g.id == goal_id)
    return replace(goal, metric=goal.metric.with_target(text))


def _listing(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []


def footprint() -> dict[str, object]:
    """What a gate run must not change: accounts, /var/tmp, /home and the account's home directory."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    state: dict[str, object] = {
        name: Path(name).read_text() for name in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
    }
    for folder in (Path("/var/tmp"), Path("/home"), home, *(home / sub for sub in (".cache", ".config", ".local"))):
        state[str(folder)] = _listing(folder)
    return state
