"""Evidence: the aggregates of both windows, per cell, as the compiled queries return them.

A cell is one time slot of a window crossed with one cluster group (:class:`sprintgate.compiler.Layout`).
Per cell the evidence holds, for each declared measure, what the statistics need and nothing finer:
duration counts per 1 % log bucket, rate counts, units by rows per unit. Every row a measure could
not use is counted in ``excluded`` under its reason. No event row and no unit id leaves the database.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg.adapt import Buffer, Loader

from sprintgate.compiler import (
    BUCKET_BASE,
    DURATION_FAULTS,
    FLAG_STATES,
    NOT_MEASURED,
    RATE_FAULTS,
    Layout,
    Plan,
    budget_key,
)
from sprintgate.measures import NONE, OTHER, Category, EventIs, Rate
from sprintgate.windows import Window

Int = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class QueryRun:
    """What ran: the query, its bound parameters (as text), how long it took, how many rows it grouped."""

    name: str
    text: str
    parameters: Mapping[str, str]
    seconds: float
    rows: int


@dataclass(frozen=True, slots=True, eq=False)
class Histogram:
    """Counts of values: ``counts[i]`` values in the bucket (or equal to the value) ``values[i]``.

    ``values`` are strictly increasing and ``counts`` positive. For durations, ``index`` holds each
    value's log bucket so interval ends can be read at bucket edges.
    """

    values: NDArray[np.float64]
    counts: Int
    index: Int | None = None

    def __post_init__(self) -> None:
        if self.values.shape != self.counts.shape or self.values.ndim != 1:
            raise ValueError("a histogram needs one count per value")
        if np.any(np.diff(self.values) <= 0):
            raise ValueError("histogram values must be strictly increasing")
        if np.any(self.counts <= 0):
            raise ValueError("histogram counts must be positive")

    @classmethod
    def of_values(cls, values: Iterable[float]) -> Histogram:
        """An exact histogram of raw values (small integers such as rows per unit)."""
        keys, counts = np.unique(np.asarray(list(values), dtype=np.float64), return_counts=True)
        return cls(keys, counts.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def rank_position(self, rank: int) -> int:
        """The position in ``values`` of the order statistic of 1-based ``rank``."""
        return int(np.searchsorted(np.cumsum(self.counts), rank, side="left"))

    def quantile(self, q: float) -> float:
        """The ``q`` quantile as the order statistic of rank ``ceil(q * n)`` (inverted CDF)."""
        if self.n == 0:
            raise ValueError("the quantile of an empty histogram is undefined")
        return float(self.values[self.rank_position(max(1, math.ceil(q * self.n)))])

    def mean(self) -> float:
        return float(np.dot(self.counts, self.values) / self.n)


def bucket_value(index: Int | int) -> NDArray[np.float64]:
    """The geometric midpoint of log buckets: within 0.5 % of every value in them."""
    return np.asarray(BUCKET_BASE ** (np.asarray(index, dtype=np.float64) + 0.5), dtype=np.float64)


def bucket_of(values: NDArray[np.float64]) -> Int:
    """The log bucket of each value, as the evidence query computes it (for tests and simulation)."""
    return np.floor(np.log(np.maximum(values, 0.001)) / math.log(BUCKET_BASE)).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class CellHistogram:
    """A duration measure in one window: ``counts[slot, group, bucket - first]``."""

    counts: Int
    first: int

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def total(self) -> Int:
        """Counts per bucket over every cell."""
        return np.asarray(self.counts.sum(axis=(0, 1)), dtype=np.int64)

    def histogram(self) -> Histogram:
        totals = self.total
        keep = np.flatnonzero(totals)
        index = keep.astype(np.int64) + self.first
        return Histogram(bucket_value(index), totals[keep].astype(np.int64), index)

    def cells_at_or_below(self, bucket: int) -> Int:
        """Per cell, how many values are in buckets up to and including ``bucket``."""
        upto = min(max(bucket - self.first + 1, 0), self.counts.shape[2])
        return np.asarray(self.counts[:, :, :upto].sum(axis=2), dtype=np.int64)

    def cell_totals(self) -> Int:
        return np.asarray(self.counts.sum(axis=2), dtype=np.int64)

    def slots(self, selection: slice) -> CellHistogram:
        return CellHistogram(self.counts[selection], self.first)


@dataclass(frozen=True, slots=True, eq=False)
class CellRate:
    """A rate in one window: valid rows ``n`` and ``hits`` per cell ``[slot, group]``."""

    n: Int
    hits: Int

    @property
    def total(self) -> tuple[int, int]:
        return int(self.hits.sum()), int(self.n.sum())

    @property
    def rate(self) -> float | None:
        hits, n = self.total
        return hits / n if n else None

    def slots(self, selection: slice) -> CellRate:
        return CellRate(self.n[selection], self.hits[selection])


@dataclass(frozen=True, slots=True, eq=False)
class CellUnits:
    """A per-unit measure in one window: per cell ``[slot, group]`` the units (by their first row),
    their rows and the sum of squared rows; and the histogram of rows per unit."""

    units: Int
    total: Int
    squares: Int
    per_unit: Histogram | None

    @property
    def n(self) -> int:
        return int(self.units.sum())

    def slots(self, selection: slice) -> CellUnits:
        return CellUnits(self.units[selection], self.total[selection], self.squares[selection], None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowEvidence:
    """All that the goals need to know about one window."""

    window: Window
    layout: Layout
    durations: Mapping[str, CellHistogram]
    budgets: Mapping[str, Int]  # budget_key(measure, threshold) -> rows under it per cell
    rates: Mapping[str, CellRate]
    units: Mapping[str, CellUnits]
    breakdowns: Mapping[tuple[str, str], Mapping[str, tuple[int, int]]]  # (rate, field) -> label -> (hits, n)
    mixes: Mapping[str, Mapping[str, int]]  # mix name -> label -> rows
    excluded: Mapping[str, Mapping[str, int]]  # measure -> reason -> rows
    events: Mapping[str, int]  # event type (declared or a variant) -> rows
    events_by_slot: Mapping[str, Int]
    flags: Mapping[str, int]  # flag state -> rows
    demand_by_hour: Int  # demand events per hour of the window
    demand_by_group: Int  # demand events per demand cluster group (last: no cluster value)

    def count(self, *event_types: str) -> int:
        return sum(self.events.get(t, 0) for t in event_types)

    def half(self, which: int) -> WindowEvidence:
        """The first (0) or second (1) half of the window, by slots (for the placebo check)."""
        half = self.layout.slots // 2
        selection = slice(0, half) if which == 0 else slice(half, self.layout.slots)
        start = self.window.start + (self.window.length / 2) * which
        return WindowEvidence(
            window=Window(start, start + self.window.length / 2),
            layout=Layout(slots=half, groups=self.layout.groups, slots_per_day=self.layout.slots_per_day),
            durations={k: v.slots(selection) for k, v in self.durations.items()},
            budgets={k: v[selection] for k, v in self.budgets.items()},
            rates={k: v.slots(selection) for k, v in self.rates.items()},
            units={k: v.slots(selection) for k, v in self.units.items()},
            breakdowns={},
            mixes={},
            excluded={},
            events={k: int(v[selection].sum()) for k, v in self.events_by_slot.items()},
            events_by_slot={k: v[selection] for k, v in self.events_by_slot.items()},
            flags={},
            demand_by_hour=np.zeros(0, dtype=np.int64),
            demand_by_group=np.zeros(0, dtype=np.int64),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Census:
    """What the table holds beyond the rows the measures read, and how it was read."""

    snapshot: str  # pg_current_snapshot() of the run's one transaction
    checked_at: datetime  # the database clock when the run's transaction started
    newest_event_at: datetime | None  # the newest plausible created_at of a declared event type
    future_rows: int  # declared rows dated after the database clock (plus slack): not plausible
    ancient_rows: int  # declared rows dated before 2000: not plausible
    null_created_at: int  # declared rows without a created_at
    null_event_type: Mapping[str, int]  # window -> rows in it without an event type
    variants: Mapping[str, str]  # event type spelled differently -> the declared type
    other_types: Mapping[str, Mapping[str, int]]  # window -> undeclared event type -> rows
    duplicate_ids: Mapping[str, int] | None  # window -> extra copies; None when the id is unique by constraint
    unique_ids: bool
    index_advice: str | None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Both windows and the census of the run, all read from one snapshot."""

    baseline: WindowEvidence
    post: WindowEvidence
    census: Census
    queries: tuple[QueryRun, ...] = ()

    def window(self, name: str) -> WindowEvidence:
        return self.baseline if name == "BASELINE" else self.post

    def windows(self) -> Iterator[tuple[str, WindowEvidence]]:
        yield "BASELINE", self.baseline
        yield "POST", self.post


# --- reading the arrays the compiled queries return -----------------------------------------------

_INT8_ARRAY, _INT4_ARRAY = 1016, 1007  # pg_type oids of bigint[] and integer[]
_HEADER = struct.Struct(">iii")
_DIMENSION = struct.Struct(">ii")


class ArrayLoader(Loader):
    """Loads a one-dimensional int4[] or int8[] without nulls, in binary, straight into numpy."""

    format = psycopg.pq.Format.BINARY
    width = 8

    def load(self, data: Buffer) -> Int:
        raw = bytes(data)
        dimensions, has_null, _ = _HEADER.unpack_from(raw, 0)
        if dimensions == 0:
            return np.zeros(0, dtype=np.int64)
        if dimensions != 1 or has_null:
            raise ValueError("sprintgate: an evidence array must be one-dimensional without nulls")
        size, _ = _DIMENSION.unpack_from(raw, _HEADER.size)
        offset = _HEADER.size + _DIMENSION.size
        items = np.frombuffer(raw, dtype=[("length", ">i4"), ("value", f">i{self.width}")], count=size, offset=offset)
        return items["value"].astype(np.int64)


class Int4ArrayLoader(ArrayLoader):
    width = 4


def read_arrays(
    connection: psycopg.Connection[Any], text: str, params: Mapping[str, Any]
) -> tuple[int, dict[str, Int]]:
    """Run a query returning ``count(*) as rows`` and one array per column; the arrays as numpy."""
    cursor = connection.cursor(binary=True)
    cursor.adapters.register_loader(_INT8_ARRAY, ArrayLoader)
    cursor.adapters.register_loader(_INT4_ARRAY, Int4ArrayLoader)
    with cursor:
        cursor.execute(text, params)
        description = cursor.description
        row = cursor.fetchone()
    if row is None or description is None:
        raise psycopg.DataError("sprintgate: an evidence query returned no row")
    names = [d.name for d in description]
    rows = int(row[0])
    arrays = {
        name: (np.zeros(0, dtype=np.int64) if value is None else value)
        for name, value in zip(names[1:], row[1:], strict=True)
    }
    return rows, arrays


# --- decoding -------------------------------------------------------------------------------------


@dataclass
class _Accumulator:
    """Evidence of one window while the rows are decoded."""

    layout: Layout
    excluded: dict[str, Counter[str]] = field(default_factory=dict)

    def exclude(self, measure: str, reason: str, rows: int) -> None:
        if rows:
            self.excluded.setdefault(measure, Counter())[reason] += rows


def _bits(packed: Int, bit: int) -> Int:
    return (packed >> (31 * (bit % 2))) & ((1 << 31) - 1)


def decode(
    plan: Plan, arrays: Mapping[str, Int], units: Mapping[str, Int] | None, demand: Mapping[str, Int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pieces of both windows' :class:`WindowEvidence` (everything but the window itself)."""
    return _decode_window(plan, arrays, units, demand, 0), _decode_window(plan, arrays, units, demand, 1)


def _decode_window(  # noqa: PLR0912, PLR0915 - one pass over the column map of the plan, kept in one place
    plan: Plan, arrays: Mapping[str, Int], units: Mapping[str, Int] | None, demand: Mapping[str, Int], w: int
) -> dict[str, Any]:
    layout = plan.layout
    shape = (layout.slots, layout.groups + 1)
    at = arrays["w"] == w
    col = {name: values[at] for name, values in arrays.items()}
    n, t, flags = col["n"], col["t"] - 1, col["flags"]
    slot, grp = col["slot"], col["grp"]
    acc = _Accumulator(layout)
    events: dict[str, int] = {}
    events_by_slot: dict[str, Int] = {}
    for index, event in enumerate(plan.types):
        mine = t == index
        if mine.any():
            events[event] = int(n[mine].sum())
            events_by_slot[event] = np.bincount(slot[mine], weights=n[mine], minlength=layout.slots).astype(np.int64)
    # Flags are read on the declared event types; a misspelt type is not the rollout's event.
    declared = t < len(plan.types) - len(plan.variants)
    flag_states = Counter({FLAG_STATES[int(s)]: int(n[declared & (flags == s)].sum()) for s in np.unique(flags)})
    usable = flags != 0
    type_index = {event: i for i, event in enumerate(plan.types)}

    def rows_of(event_types: Iterable[str], measure: str) -> NDArray[np.bool_]:
        """Rows of the measure's declared types with an object context; counts what is left out."""
        wanted = np.zeros(t.shape, dtype=bool)
        for event in event_types:
            wanted |= t == type_index[event]
        for variant, spelled in plan.variants.items():
            if spelled in event_types:
                acc.exclude(measure, f"event type written {variant!r}", int(n[t == type_index[variant]].sum()))
        acc.exclude(measure, "context_not_object", int(n[wanted & ~usable].sum()))
        return np.asarray(wanted & usable, dtype=bool)

    def per_cell(mask: NDArray[np.bool_], weights: Int) -> Int:
        """``weights`` (one per grouped row) summed per cell over the rows in ``mask``."""
        cells = slot[mask] * shape[1] + grp[mask]
        return np.bincount(cells, weights=weights[mask], minlength=shape[0] * shape[1]).astype(np.int64).reshape(shape)

    durations: dict[str, CellHistogram] = {}
    budgets: dict[str, Int] = {}
    for measure in plan.durations:
        rows = rows_of(measure.events, measure.name)
        code = np.full(t.shape, NOT_MEASURED, dtype=np.int64)
        for event in measure.events:
            column = col[f"d{plan.duration_column[(event, measure.name)]}"]
            mine = t == type_index[event]
            code[mine] = column[mine]
        for fault, reason in DURATION_FAULTS.items():
            acc.exclude(measure.name, reason, int(n[rows & (code == fault)].sum()))
        valid = rows & (code > -3000)
        buckets = code[valid]
        first = int(buckets.min()) if buckets.size else 0
        width = int(buckets.max()) - first + 1 if buckets.size else 1
        flat = (slot[valid] * shape[1] + grp[valid]) * width + (buckets - first)
        counts = np.bincount(flat, weights=n[valid], minlength=shape[0] * shape[1] * width)
        durations[measure.name] = CellHistogram(counts.astype(np.int64).reshape((*shape, width)), first)
        for threshold in plan.budgets.get(measure.name, ()):
            key = budget_key(measure.name, threshold)
            hits = np.zeros(t.shape, dtype=np.int64)
            for event in measure.events:
                bit = plan.hit_bit[(event, key)]
                mine = valid & (t == type_index[event])
                hits[mine] = _bits(col[f"h{bit // 2}"][mine], bit)
            budgets[key] = per_cell(valid, hits)
    rates: dict[str, CellRate] = {}
    breakdowns: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for rate in plan.rates:
        rows = rows_of(rate.events, rate.name)
        hits = np.zeros(t.shape, dtype=np.int64)
        valid = rows.copy()
        for event in rate.events:
            mine = rows & (t == type_index[event])
            if isinstance(rate.hit, EventIs):
                hits[mine] = np.where(event == rate.hit.event_type, n[mine], 0)
                continue
            state = col[f"r{plan.rate_column[(event, rate.name)]}"]
            for fault, reason in RATE_FAULTS.items():
                acc.exclude(rate.name, f"{rate.hit.field}_{reason}", int(n[mine & (state == fault)].sum()))
            valid &= ~(mine & (state != 0))
            bit = plan.hit_bit[(event, rate.name)]
            hits[mine] = _bits(col[f"h{bit // 2}"][mine], bit)
        rates[rate.name] = CellRate(per_cell(valid, n), per_cell(valid, hits))
        for category, read_on in plan.categories:
            if set(read_on) >= set(rate.events):
                breakdowns[(rate.name, category.field)] = _breakdown(plan, col, category, rate, valid, hits, type_index)
    mixes: dict[str, dict[str, int]] = {}
    for mix in plan.suite.mixes:
        rows = rows_of(mix.events, mix.name)
        labels: Counter[str] = Counter()
        for event in mix.events:
            codes = col[f"c{plan.category_column[(event, mix.category.field)]}"]
            mine = rows & (t == type_index[event])
            for position, label in _labels(mix.category).items():
                labels[label] += int(n[mine & (codes == position)].sum())
        mixes[mix.name] = dict(labels)
    unit_missing: dict[str, int] = {}
    for per_unit in plan.units:
        rows = rows_of(per_unit.events, per_unit.name)
        for event in per_unit.events:
            column = col[f"u{plan.unit_column[(event, per_unit.unit)]}"]
            unit_missing[per_unit.name] = unit_missing.get(per_unit.name, 0) + int(
                n[rows & (t == type_index[event]) & (column == 1)].sum()
            )
        acc.exclude(per_unit.name, f"no_{per_unit.unit}", unit_missing[per_unit.name])
    return {
        "layout": layout,
        "durations": durations,
        "budgets": budgets,
        "rates": rates,
        "units": _units(plan, units, w, shape),
        "breakdowns": breakdowns,
        "mixes": mixes,
        "excluded": {m: dict(c) for m, c in sorted(acc.excluded.items())},
        "events": events,
        "events_by_slot": events_by_slot,
        "flags": dict(flag_states),
        **_demand(demand, w, plan.windows[w]),
    }


def _labels(category: Category) -> dict[int, str]:
    return {**{i + 1: v for i, v in enumerate(category.values)}, 0: OTHER, -1: NONE}


def _breakdown(
    plan: Plan,
    col: Mapping[str, Int],
    category: Category,
    rate: Rate,
    valid: NDArray[np.bool_],
    hits: Int,
    type_index: Mapping[str, int],
) -> dict[str, tuple[int, int]]:
    t, n = col["t"] - 1, col["n"]
    out: dict[str, tuple[int, int]] = {}
    for event in rate.events:
        codes = col[f"c{plan.category_column[(event, category.field)]}"]
        mine = valid & (t == type_index[event])
        for code, label in _labels(category).items():
            chosen = mine & (codes == code)
            old = out.get(label, (0, 0))
            out[label] = (old[0] + int(hits[chosen].sum()), old[1] + int(n[chosen].sum()))
    return {k: v for k, v in out.items() if v[1]}


def _units(plan: Plan, arrays: Mapping[str, Int] | None, w: int, shape: tuple[int, int]) -> dict[str, CellUnits]:
    out: dict[str, CellUnits] = {}
    for index, measure in enumerate(plan.units):
        if arrays is None:
            continue
        mine = (arrays["m"] == index) & (arrays["w"] == w)
        k, units = arrays["k"][mine], arrays["units"][mine]
        cells = arrays["slot"][mine] * shape[1] + arrays["grp"][mine]
        size = shape[0] * shape[1]

        def cell_sum(weights: Int, cells: Int = cells, size: int = size) -> Int:
            return np.bincount(cells, weights=weights, minlength=size).astype(np.int64).reshape(shape)

        values, inverse = np.unique(k, return_inverse=True)
        counts = np.bincount(inverse, weights=units, minlength=values.size).astype(np.int64)
        keep = counts > 0
        out[measure.name] = CellUnits(
            units=cell_sum(units),
            total=cell_sum(units * k),
            squares=cell_sum(units * k * k),
            per_unit=Histogram(values[keep].astype(np.float64), counts[keep]) if keep.any() else None,
        )
    return out


def _demand(arrays: Mapping[str, Int], w: int, window: Window) -> dict[str, Int]:
    from sprintgate.compiler import DEMAND_GROUPS  # noqa: PLC0415 - keeps the import list short above

    mine = arrays["w"] == w
    hours = max(1, math.ceil(window.length.total_seconds() / 3600))
    hour = np.clip(arrays["hour"][mine], 0, hours - 1)
    return {
        "demand_by_hour": np.bincount(hour, weights=arrays["n"][mine], minlength=hours).astype(np.int64),
        "demand_by_group": np.bincount(
            arrays["grp"][mine], weights=arrays["n"][mine], minlength=DEMAND_GROUPS + 1
        ).astype(np.int64),
    }
