"""The suite: what one rollout declares once in its ``goals/conftest.py``.

    from sprintgate import Suite
    pytest_plugins = ("sprintgate.plugin",)
    SUITE = Suite(name=..., flags=(...), rollback=..., demand=(...), cluster="tenant_id", ...)

The flags (any number, any names) and the rollback instruction are declared here once; the flag
precondition, flip detection and the comparability checks use them. The goals live beside it, one
module per goal; report-only rows (the rollout document's metric table) are declared here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sprintgate.measures import DeclarationError, Mix, check_events, check_field, check_name
from sprintgate.windows import Window

#: Column types a suite may declare for the extra columns its measures read.
COLUMN_TYPES = ("uuid", "text", "bigint", "integer")
_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?")


class Demo(Protocol):
    """Synthetic telemetry a suite ships for its demo environment and its own tests.

    ``rows`` yields rows in the column order of :func:`sprintgate.contract.columns` for the suite:
    ``id, created_at, event_type, context`` and then the suite's declared columns.
    """

    def scenarios(self) -> Sequence[str]:
        """The scenario names; the first is the default."""
        ...

    def describe(self, scenario: str) -> str:
        """One sentence on what the scenario holds and which verdicts it is built for."""
        ...

    def windows(self, scenario: str) -> tuple[Window, Window, datetime]:
        """BASELINE, POST and the flag flip of the scenario."""
        ...

    def rows(self, scenario: str, *, scale: float, seed: int) -> Iterator[tuple[Any, ...]]:
        """Every event of the scenario, deterministically from ``seed``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    """One rollout: its flags, its rollback, its demand and mixes, its table, its demo data.

    - ``flags``: the flag names; an event carries them in ``context[flag_field]`` as JSON booleans.
    - ``rollback``: what to do when a guardrail is breached with confidence, in the team's words.
    - ``demand``: event types whose volume and timing the rollout should not change; windows whose
      demand differs are not compared (``windows_comparable``).
    - ``cluster``: the column whose values make events correlated (a tenant, a store); intervals
      treat each value as a cluster. ``None``: only time clusters.
    - ``columns``: extra columns of the telemetry table the measures read, with their types.
    - ``mixes``: category mixes that must stay comparable.
    - ``report``: report-only rows for the metric table (:class:`sprintgate.kinds.Row`).
    - ``demo``: the suite's synthetic scenarios (:class:`Demo`) for ``--env=demo``.
    """

    name: str
    flags: tuple[str, ...]
    rollback: str
    demand: tuple[str, ...]
    flag_field: str = "flags"
    cluster: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    mixes: tuple[Mix, ...] = ()
    report: tuple[Any, ...] = ()
    demo: Demo | None = None
    table: str = "observability_events"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DeclarationError("sprintgate: Suite needs a name (the rollout, in words).")
        if isinstance(self.flags, str) or not isinstance(self.flags, tuple) or not self.flags:
            raise DeclarationError(
                f"sprintgate: Suite flags must be a non-empty tuple of flag names, got {self.flags!r}."
            )
        for flag in self.flags:
            check_field("Suite flags", flag)
        if len(set(self.flags)) != len(self.flags):
            raise DeclarationError(f"sprintgate: Suite flags {self.flags!r} name a flag twice.")
        if not isinstance(self.rollback, str) or not self.rollback.strip():
            raise DeclarationError(
                "sprintgate: Suite needs rollback, the instruction to follow when a guardrail is breached."
            )
        check_events("Suite demand", self.demand)
        check_field("Suite flag_field", self.flag_field)
        if not _TABLE.fullmatch(self.table):
            raise DeclarationError(
                f"sprintgate: Suite table {self.table!r} must be a plain (optionally schema-qualified) name."
            )
        for column, kind in self.columns.items():
            check_name("column", column)
            if kind not in COLUMN_TYPES:
                raise DeclarationError(
                    f"sprintgate: Suite column {column!r} has type {kind!r}; known: {', '.join(COLUMN_TYPES)}."
                )
        if self.cluster is not None and self.cluster not in self.columns:
            raise DeclarationError(
                f"sprintgate: Suite cluster {self.cluster!r} is not among its columns {sorted(self.columns)}; declare it in columns."
            )
        names = [m.name for m in self.mixes]
        if len(set(names)) != len(names):
            raise DeclarationError(f"sprintgate: Suite mixes {names} name a mix twice.")
