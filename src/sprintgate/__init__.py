"""sprintgate: a pytest release gate for the sprint goals of a feature-flag rollout.

A team declares its rollout in ``goals/``: a :class:`Suite` (flags, rollback, demand) in the goals'
conftest, measures once (:class:`Duration`, :class:`Rate`, :class:`PerUnit`), and one module per goal
(:class:`Goal` with a metric kind). The engine never imports pytest; ``sprintgate.plugin`` does, and
only a project that opts in loads it.
"""

from sprintgate.design import Clustering
from sprintgate.gate import Gate, GoalInconclusive, GoalNotMet
from sprintgate.goals import Goal, Row
from sprintgate.kinds.mean import Mean, MeanRatio, UnitQuantile
from sprintgate.kinds.quantile import Quantile, QuantileBudget, QuantileRatio
from sprintgate.kinds.rate import RateChange, RateLimit, Share
from sprintgate.measures import (
    Category,
    DeclarationError,
    Duration,
    EventIs,
    FieldPresent,
    FieldTrue,
    Mix,
    PerUnit,
    Rate,
)
from sprintgate.preconditions import (
    FLAGS_ENABLED,
    TELEMETRY_PRESENT,
    TELEMETRY_UNDERSTOOD,
    WINDOW_SUFFICIENT,
    WINDOWS_COMPARABLE,
    Precondition,
)
from sprintgate.results import GoalResult, Kind
from sprintgate.suite import Suite
from sprintgate.verdict import Better, Interval, Verdict
from sprintgate.windows import Window

__all__ = [
    "FLAGS_ENABLED",
    "TELEMETRY_PRESENT",
    "TELEMETRY_UNDERSTOOD",
    "WINDOWS_COMPARABLE",
    "WINDOW_SUFFICIENT",
    "Better",
    "Category",
    "Clustering",
    "DeclarationError",
    "Duration",
    "EventIs",
    "FieldPresent",
    "FieldTrue",
    "Gate",
    "Goal",
    "GoalInconclusive",
    "GoalNotMet",
    "GoalResult",
    "Interval",
    "Kind",
    "Mean",
    "MeanRatio",
    "Mix",
    "PerUnit",
    "Precondition",
    "Quantile",
    "QuantileBudget",
    "QuantileRatio",
    "Rate",
    "RateChange",
    "RateLimit",
    "Row",
    "Share",
    "Suite",
    "UnitQuantile",
    "Verdict",
    "Window",
]
