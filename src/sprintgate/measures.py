"""Measures: what a suite reads from its telemetry, declared once in ``goals/`` and reused by goals.

A measure names the event types it is counted over and the field (a JSON key of ``context``, or a
column of the telemetry table) it reads. The engine compiles every declared measure into one pass
over each window (:mod:`sprintgate.compiler`); every value is bound as a parameter, never pasted into
the SQL text, and every row a measure cannot use is counted under a reason.

- :class:`Duration`: a number such as ``duration_ms``; goals take quantiles of it.
- :class:`Rate`: the share of events that are a hit (:class:`FieldTrue`, :class:`FieldPresent`,
  :class:`EventIs`); goals bound the share or its change.
- :class:`PerUnit`: events per unit (rows per ``request_id``, say); goals take the mean per unit.
- :class:`Category`: a text field with declared values, for breakdowns and mixes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from sprintgate.units import Unit, count_unit, duration_unit

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
JsonType = Literal["string", "number", "boolean", "object", "array"]


class DeclarationError(ValueError):
    """A measure, goal or suite declared wrongly: one line naming what and how to fix it."""


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DeclarationError(
            f"sprintgate: {kind} name {name!r} must be lowercase letters, digits and underscores, "
            "starting with a letter (at most 63 characters)."
        )
    return name


def check_events(owner: str, events: object) -> tuple[str, ...]:
    if isinstance(events, str) or not isinstance(events, tuple) or not events:
        raise DeclarationError(f"sprintgate: {owner}: events must be a non-empty tuple of event types, got {events!r}.")
    for event in events:
        if not isinstance(event, str) or not event or event != event.strip() or len(event) > 200:
            raise DeclarationError(
                f"sprintgate: {owner}: event type {event!r} must be a non-empty string without surrounding spaces."
            )
    if len(set(events)) != len(events):
        raise DeclarationError(f"sprintgate: {owner}: events {events!r} name an event type twice.")
    return events


def check_field(owner: str, name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise DeclarationError(f"sprintgate: {owner}: field {name!r} must be a non-empty JSON key.")
    return name


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration read from the JSON field ``field`` of the context of ``events``.

    Values above ``limit`` (in ``unit``) are unit or clock errors and counted as ``absurd``; negative,
    missing and non-numeric values are counted under their reason. None of them enters a quantile.
    """

    name: str
    events: tuple[str, ...]
    field: str
    unit: str = "ms"
    limit: float = 86_400_000.0
    label: str = ""

    def __post_init__(self) -> None:
        check_name("measure", self.name)
        check_events(f"measure {self.name}", self.events)
        check_field(f"measure {self.name}", self.field)
        if not isinstance(self.limit, int | float) or not math.isfinite(self.limit) or self.limit <= 0:
            raise DeclarationError(
                f"sprintgate: measure {self.name}: limit must be a positive number, got {self.limit!r}."
            )
        if not re.fullmatch(r"[A-Za-zµ]{1,8}", self.unit):
            raise DeclarationError(
                f"sprintgate: measure {self.name}: unit {self.unit!r} must be a short word such as 'ms'."
            )

    @property
    def words(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def value_unit(self) -> Unit:
        return duration_unit(self.unit)


@dataclass(frozen=True, slots=True)
class FieldTrue:
    """A hit when the JSON field is ``true``, a miss when ``false``; anything else is excluded."""

    field: str

    def __post_init__(self) -> None:
        check_field("FieldTrue", self.field)

    def describe(self) -> str:
        return f"{self.field} is true"


@dataclass(frozen=True, slots=True)
class FieldPresent:
    """A hit when the JSON field holds a value of ``json_type``, a miss when it is absent or JSON null;
    a value of another type is excluded (``error: 500`` is not an error message)."""

    field: str
    json_type: JsonType = "string"

    def __post_init__(self) -> None:
        check_field("FieldPresent", self.field)
        if self.json_type not in ("string", "number", "boolean", "object", "array"):
            raise DeclarationError(
                f"sprintgate: FieldPresent({self.field!r}): json_type {self.json_type!r} is not a JSON type."
            )

    def describe(self) -> str:
        return f"{self.field} present"


@dataclass(frozen=True, slots=True)
class EventIs:
    """A hit when the event is of type ``event_type`` (one outcome among the measure's events)."""

    event_type: str

    def describe(self) -> str:
        return f"event is {self.event_type}"


Hit = FieldTrue | FieldPresent | EventIs


@dataclass(frozen=True, slots=True)
class Rate:
    """The share of ``events`` that are a hit."""

    name: str
    events: tuple[str, ...]
    hit: Hit
    label: str = ""

    def __post_init__(self) -> None:
        check_name("measure", self.name)
        check_events(f"measure {self.name}", self.events)
        if not isinstance(self.hit, FieldTrue | FieldPresent | EventIs):
            raise DeclarationError(
                f"sprintgate: measure {self.name}: hit must be FieldTrue, FieldPresent or EventIs, got {self.hit!r}."
            )
        if isinstance(self.hit, EventIs) and self.hit.event_type not in self.events:
            raise DeclarationError(
                f"sprintgate: measure {self.name}: EventIs({self.hit.event_type!r}) is not one of its events {self.events!r}."
            )
        if isinstance(self.hit, EventIs) and len(self.events) < 2:
            raise DeclarationError(
                f"sprintgate: measure {self.name}: EventIs needs the other outcomes among events, or every event is a hit."
            )

    @property
    def words(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True, slots=True)
class PerUnit:
    """How many ``events`` rows each unit has, a unit being a value of the column ``unit``
    (for example retry rows per request id). Rows without a unit are counted and excluded."""

    name: str
    events: tuple[str, ...]
    unit: str
    counts: str = "events"
    label: str = ""

    def __post_init__(self) -> None:
        check_name("measure", self.name)
        check_events(f"measure {self.name}", self.events)
        check_name("unit column", self.unit)
        check_name("counted thing", self.counts)

    @property
    def words(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def value_unit(self) -> Unit:
        return count_unit(self.counts)


Measure = Duration | Rate | PerUnit


@dataclass(frozen=True, slots=True)
class Category:
    """A text field of the context with the values a report distinguishes; other values are counted
    as ``(other)`` and a missing field as ``(none)``. Declared values keep the evidence small whatever
    the telemetry writes."""

    field: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        check_field("Category", self.field)
        if not isinstance(self.values, tuple) or not self.values or len(self.values) > 50:
            raise DeclarationError(f"sprintgate: Category({self.field!r}): values must be a tuple of 1 to 50 strings.")
        if any(not isinstance(v, str) for v in self.values) or len(set(self.values)) != len(self.values):
            raise DeclarationError(f"sprintgate: Category({self.field!r}): values must be distinct strings.")

    def labels(self) -> tuple[str, ...]:
        """Every category's label, in the order of the codes the evidence query returns (1, 2, ...),
        then ``(other)`` (code 0) and ``(none)`` (code -1)."""
        return (*self.values, OTHER, NONE)


OTHER = "(other)"
NONE = "(none)"


@dataclass(frozen=True, slots=True)
class Mix:
    """A mix of ``category`` values among ``events`` that the rollout should not change (a
    comparability check: windows whose mix differs are not compared)."""

    name: str
    events: tuple[str, ...]
    category: Category

    def __post_init__(self) -> None:
        check_name("mix", self.name)
        check_events(f"mix {self.name}", self.events)
