"""Goals as a ``goals/`` module declares them, and the report-only rows of the metric table.

    GOAL = Goal("search_p95_reduction", QuantileRatio(SEARCH_DURATION, q=0.95, at_most=0.70))

The goal's text defaults to its module's docstring and its title to the metric's own words with its
target, so ``--target`` can never make a title lie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from sprintgate.design import Clustering
from sprintgate.kinds import Metric
from sprintgate.measures import DeclarationError, check_name
from sprintgate.results import Kind

_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """One goal or guardrail of a rollout.

    ``advisory`` goals are judged and reported but do not block the promotion. ``clustering`` says
    which correlation the interval allows for (default: the suite's cluster column and time).
    """

    id: str
    metric: Metric
    kind: Kind = Kind.GOAL
    title: str = ""
    text: str = ""
    advisory: bool = False
    clustering: Clustering = Clustering.BOTH

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise DeclarationError(
                f"sprintgate: goal id {self.id!r} must be lowercase letters, digits and underscores."
            )
        if self.kind not in (Kind.GOAL, Kind.GUARDRAIL):
            raise DeclarationError(
                f"sprintgate: goal {self.id}: kind must be Kind.GOAL or Kind.GUARDRAIL, got {self.kind!r}."
            )
        for method in ("evaluate", "target", "with_target", "needs", "reads", "placebo", "title"):
            if not callable(getattr(self.metric, method, None)):
                raise DeclarationError(
                    f"sprintgate: goal {self.id}: metric {self.metric!r} is not a metric kind (QuantileRatio, "
                    "QuantileBudget, MeanRatio, RateLimit, RateChange)."
                )
        if not isinstance(self.clustering, Clustering):
            raise DeclarationError(
                f"sprintgate: goal {self.id}: clustering must be a Clustering, got {self.clustering!r}."
            )

    def heading(self) -> str:
        """The title a reader sees: the declared one (``{target}`` filled in) or the metric's own."""
        if not self.title:
            return self.metric.title()
        return self.title.replace("{target}", self.metric.unit.format(self.metric.target()))

    def with_target(self, text: str) -> Goal:
        return replace(self, metric=self.metric.with_target(text))

    def with_text(self, text: str) -> Goal:
        return self if self.text else replace(self, text=text)


@dataclass(frozen=True, slots=True)
class Row:
    """One report-only row of the metric table (the rollout document's template): a label, a
    report-only metric (``Quantile``, ``Share``, ``Mean``, ``UnitQuantile``) and, optionally, the goal
    whose verdict stands beside it."""

    label: str
    metric: Any
    goal: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip() or len(self.label) > 120:
            raise DeclarationError(f"sprintgate: report row label {self.label!r} must be a short non-empty text.")
        if not callable(getattr(self.metric, "value", None)):
            raise DeclarationError(
                f"sprintgate: report row {self.label!r}: {self.metric!r} is not a report-only metric."
            )
        if self.goal is not None:
            check_name("goal id", self.goal)
