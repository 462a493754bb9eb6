"""Staging before production: a production run needs a recent staging run that passed the same goals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from sprintgate import contract


def staging_blocker(  # noqa: PLR0911 - one early return per reason to refuse, each with its message
    path: Path, targets: Mapping[str, float], *, max_age_hours: float, now: datetime
) -> str | None:
    """Why the staging results at ``path`` do not allow a production run, or ``None`` when they do.

    They must say PASS, be no older than ``max_age_hours``, cover the same goals with the same targets
    (``targets``: goal id -> target of this run) and the same flags.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no staging results at {path}; run `pytest goals/ --env=staging` first or pass --staging-results PATH"
    except (OSError, ValueError) as error:
        return f"the staging results at {path} cannot be read ({error})"
    if not isinstance(document, dict):
        return f"the staging results at {path} are not a results.json document"
    if document.get("env") != "staging":
        return f"{path} holds results of env {document.get('env')!r}, not staging"
    if document.get("verdict") != "pass":
        return f"the staging run in {path} did not pass (verdict {document.get('verdict')!r})"
    try:
        generated = datetime.fromisoformat(str(document["generated_at"]))
    except (KeyError, ValueError):
        return f"the staging results at {path} have no valid generated_at"
    age = now - generated
    if age > timedelta(hours=max_age_hours):
        return f"the staging run in {path} is {age.total_seconds() / 3600:.1f} h old, more than the {max_age_hours:g} h allowed"
    staged = {g["id"]: g.get("target") for g in document.get("goals", []) if g.get("kind") != "precondition"}
    if set(staged) != set(targets):
        missing = sorted(set(targets) - set(staged))
        extra = sorted(set(staged) - set(targets))
        return f"the staging run judged other goals (missing {missing or 'none'}, extra {extra or 'none'})"
    changed = sorted(g for g, t in targets.items() if staged[g] != t)
    if changed:
        return f"the staging run used other targets for {', '.join(changed)}"
    if document.get("flags") != list(contract.FLAG_NAMES):
        return f"the staging run was for other flags ({document.get('flags')})"
    return None
