"""sprintgate: a pytest release gate for the sprint goals of a feature-flag rollout.

The engine (statistics, SQL, evidence, reports) never imports pytest; ``sprintgate.plugin`` does.
"""

from sprintgate.gate import Gate, GoalInconclusive, GoalNotMet
from sprintgate.goals import (
    Goal,
    MeanRatio,
    ProportionCeiling,
    ProportionChange,
    QuantileBudget,
    QuantileRatio,
)
from sprintgate.preconditions import FLAGS_ENABLED, TELEMETRY_PRESENT, WINDOW_SUFFICIENT, WINDOWS_COMPARABLE
from sprintgate.results import GoalResult, Kind, Observation
from sprintgate.verdict import Better, Interval, Verdict, decide

__all__ = [
    "FLAGS_ENABLED",
    "TELEMETRY_PRESENT",
    "WINDOWS_COMPARABLE",
    "WINDOW_SUFFICIENT",
    "Better",
    "Gate",
    "Goal",
    "GoalInconclusive",
    "GoalNotMet",
    "GoalResult",
    "Interval",
    "Kind",
    "MeanRatio",
    "Observation",
    "ProportionCeiling",
    "ProportionChange",
    "QuantileBudget",
    "QuantileRatio",
    "Verdict",
    "decide",
]
