"""Reruns are looks: every judgement of a goal on new windows for the same flag flip spends error.

Teams rerun after INCONCLUSIVE ("about N more events"), or every week until a goal passes. Each
rerun on new data is another chance of a false PASS. The gate records each run in
``reports/<env>/history/`` and counts, per goal, the distinct pairs of windows it was judged on for
the same flip (a rerun on the same windows is the same look: the same data gives the same verdict).
Look ``k`` may spend

    alpha_k = alpha * first            for k = 1
    alpha_k = alpha * (1 - first) * 6 / (pi^2 (k - 1)^2)   for k >= 2

of the PASS side's error ``alpha``; the shares sum to 1 over any number of looks, so the chance of
any false PASS across all reruns stays within ``alpha`` (a union bound: it holds however the looks
are correlated). The history must travel with the change record for this to hold in CI
(docs/ci/): a fresh clone without it starts again at look 1, and the report says which look it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Look:
    """Which look of a goal this run is, and the PASS-side error it may spend now and next time."""

    number: int
    alpha: float
    next_alpha: float
    earlier: tuple[str, ...]  # generated_at of the earlier runs that looked at other windows


def spend(alpha: float, look: int, first: float) -> float:
    """The share of ``alpha`` look number ``look`` may spend."""
    if look < 1:
        raise ValueError(f"looks count from 1, got {look}")
    if look == 1:
        return alpha * first
    return alpha * (1 - first) * 6 / (math.pi**2 * (look - 1) ** 2)


def flip_key(document: Mapping[str, Any]) -> str | None:
    """What identifies a rollout's flip in a results document: the flip, or BASELINE's end."""
    flip = document.get("flip")
    if isinstance(flip, str) and flip and flip != "auto":
        return flip
    baseline = document.get("baseline")
    if isinstance(baseline, Mapping) and isinstance(baseline.get("end"), str):
        return str(baseline["end"])
    return None


def _windows(document: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    try:
        base, post = document["baseline"], document["post"]
        return (str(base["start"]), str(base["end"]), str(post["start"]), str(post["end"]))
    except (KeyError, TypeError):
        return None


def look_of(
    goal: str,
    current: Mapping[str, Any],
    history: Iterable[Mapping[str, Any]],
    *,
    alpha: float,
    first: float,
) -> Look:
    """The look this run is for ``goal``: earlier runs in ``history`` (results documents of the same
    environment) that judged the goal for the same flip on other windows count, in time order."""
    key, here = flip_key(current), _windows(current)
    seen: dict[tuple[str, str, str, str], str] = {}
    for document in sorted(history, key=lambda d: str(d.get("generated_at", ""))):
        if flip_key(document) != key or key is None:
            continue
        judged = any(
            isinstance(g, Mapping) and g.get("id") == goal and g.get("verdict") in ("pass", "fail", "inconclusive")
            for g in document.get("goals") or ()
        )
        windows = _windows(document)
        if judged and windows is not None:
            seen.setdefault(windows, str(document.get("generated_at", "")))
    order = list(seen)
    number = order.index(here) + 1 if here in seen else len(order) + 1
    earlier = tuple(seen[w] for w in order[: number - 1])
    return Look(number, spend(alpha, number, first), spend(alpha, number + 1, first), earlier)
