"""Compiles the suite's declared measures into the evidence queries of a run.

One statement reads both windows once and returns aggregates per *cell*: a time slot of a window
(``slot_hours`` long) crossed with a cluster group (the suite's cluster column hashed into
``cluster_groups`` groups, plus one group for rows without a value). Per cell it returns duration
histograms (log buckets), rate counts, category counts and the flag states, and it counts every row
a measure cannot use under its reason. The statistics need nothing finer: intervals come from the
cells (cluster-robust), point estimates from their sum.

The SQL text is built from fragments written here; every name or value that comes from a suite
(event types, JSON keys, flag names, thresholds) is a bound ``:parameter``. Table and column names
come from the validated contract (:mod:`sprintgate.contract`). The compiled text, with a header that
says what a row is, goes into the reports beside its parameters.

The result comes back as one row of arrays (one array per column of the grouped result), read as
raw binary by :mod:`sprintgate.evidence`: a few hundred thousand cells cost milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from psycopg.types.json import Jsonb

from sprintgate.contract import quoted_table
from sprintgate.measures import Category, Duration, EventIs, FieldPresent, FieldTrue, PerUnit, Rate
from sprintgate.queries import Query
from sprintgate.suite import Suite
from sprintgate.windows import Window

#: Durations are counted in log buckets ``[BASE**b, BASE**(b + 1))``, 1 % wide. Interval ends are read
#: at bucket edges on the cautious side, so the bucket width never decides a verdict.
BUCKET_BASE = 1.01
#: Durations below this (zero, or 1e-400) are counted in the bucket of this value.
BUCKET_FLOOR = 0.001

#: Codes of a duration that is not a usable number (every bucket index is above -3000).
NOT_MEASURED, NEGATIVE, MISSING, NOT_A_NUMBER, ABSURD = -9000, -9001, -9002, -9003, -9004
DURATION_FAULTS = {NEGATIVE: "negative", MISSING: "missing", NOT_A_NUMBER: "not_a_number", ABSURD: "absurd"}
#: Rate field states: 0 usable, then the reasons a row is excluded.
RATE_FAULTS = {1: "missing", 2: "wrong_type"}
#: Flag states of a row.
FLAG_STATES = {0: "context_not_object", 1: "on", 2: "off", 3: "absent", 4: "mixed", 5: "malformed"}
#: Bits per packed hit counter (two counters per bigint sum).
_BITS = 31


@dataclass(frozen=True, slots=True)
class Layout:
    """How a window is cut into cells: ``slots`` time slots times ``groups + 1`` cluster groups."""

    slots: int
    groups: int
    slots_per_day: int  # the time-of-day strata of slots (1 when slots do not tile a day)

    @property
    def cells(self) -> int:
        return self.slots * (self.groups + 1)

    @classmethod
    def of(cls, windows: Sequence[Window], slot_hours: float, groups: int) -> Layout:
        """Slots of about ``slot_hours`` per window, an even number of them (the halves of a window
        are the placebo check's two periods); both windows get the same number."""
        hours = max(w.length.total_seconds() / 3600 for w in windows)
        slots = max(2, 2 * round(hours / slot_hours / 2))
        per_day = 24 / slot_hours
        whole_days = all(math.isclose(w.length.total_seconds() % 86400, 0) for w in windows)
        tiles = per_day.is_integer() and whole_days and math.isclose(hours / slots, slot_hours)
        return cls(slots=slots, groups=groups, slots_per_day=int(per_day) if tiles else 1)


@dataclass(frozen=True, slots=True)
class Column:
    """One key or aggregate column of the evidence query: its name, its SQL and what it decodes to."""

    name: str
    sql: str
    aggregate: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each declared measure sits in the evidence query, for building the SQL and for reading
    its rows back."""

    suite: Suite
    layout: Layout
    windows: tuple[Window, Window]
    types: tuple[str, ...]  # declared event types, then spelling variants found in the table
    variants: Mapping[str, str]  # variant -> the declared type it spells
    durations: tuple[Duration, ...]
    rates: tuple[Rate, ...]
    units: tuple[PerUnit, ...]
    categories: tuple[tuple[Category, tuple[str, ...]], ...]  # a field and the event types it is read on
    budgets: Mapping[str, tuple[float, ...]]  # duration measure -> thresholds counted exactly
    duration_column: Mapping[tuple[str, str], int]  # (event type, measure) -> d column
    rate_column: Mapping[tuple[str, str], int]  # (event type, rate) -> r column (JSON hits only)
    hit_bit: Mapping[tuple[str, str], int]  # (event type, rate or "measure<threshold") -> hit bit
    category_column: Mapping[tuple[str, str], int]  # (event type, field) -> c column
    unit_column: Mapping[tuple[str, str], int]  # (event type, unit column) -> u column
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def key_columns(self) -> list[str]:
        return [
            "w",
            "slot",
            "grp",
            "t",
            "flags",
            *self._names("d"),
            *self._names("r"),
            *self._names("c"),
            *self._names("u"),
        ]

    @property
    def aggregate_columns(self) -> list[str]:
        return ["n", *(f"h{i}" for i in range(self.hit_columns))]

    @property
    def hit_columns(self) -> int:
        return math.ceil((max(self.hit_bit.values(), default=-1) + 1) / 2)

    def _names(self, prefix: str) -> list[str]:
        mapping = {
            "d": self.duration_column,
            "r": self.rate_column,
            "c": self.category_column,
            "u": self.unit_column,
        }[prefix]
        return [f"{prefix}{i}" for i in range(max(mapping.values(), default=-1) + 1)]


def budget_key(measure: str, threshold: float) -> str:
    return f"{measure}<{threshold!r}"


def _assign(per_type: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], int]:
    """Column index of each (event type, item): the i-th item of a type goes to column i."""
    return {(event, item): i for event, items in per_type.items() for i, item in enumerate(items)}


def plan(  # noqa: PLR0912 - one loop per kind of declared item, side by side
    suite: Suite,
    *,
    durations: Iterable[Duration],
    rates: Iterable[Rate],
    units: Iterable[PerUnit],
    categories: Iterable[tuple[Category, tuple[str, ...]]],
    budgets: Mapping[str, Iterable[float]],
    windows: tuple[Window, Window],
    layout: Layout,
    variants: Mapping[str, str] | None = None,
) -> Plan:
    """Lay the declared measures out in the columns of the evidence query."""
    duration_list, rate_list, unit_list = _unique(durations), _unique(rates), _unique(units)
    category_list = tuple(dict.fromkeys((c, tuple(e)) for c, e in categories))
    thresholds = {m: tuple(sorted(set(t))) for m, t in budgets.items() if t}
    measured: list[Duration | Rate | PerUnit] = [*duration_list, *rate_list, *unit_list]
    declared = list(dict.fromkeys([*suite.demand, *(e for m in measured for e in m.events)]))
    for _, events in category_list:
        declared += [e for e in events if e not in declared]
    for mix in suite.mixes:
        declared += [e for e in mix.events if e not in declared]
    variants = dict(variants or {})
    types = (*declared, *sorted(v for v in variants if v not in declared))

    duration_items: dict[str, list[str]] = {}
    rate_items: dict[str, list[str]] = {}
    bit_items: dict[str, list[str]] = {}
    category_items: dict[str, list[str]] = {}
    unit_items: dict[str, list[str]] = {}
    for measure in duration_list:
        for event in measure.events:
            duration_items.setdefault(event, []).append(measure.name)
            bit_items.setdefault(event, []).extend(
                budget_key(measure.name, t) for t in thresholds.get(measure.name, ())
            )
    for rate in rate_list:
        if isinstance(rate.hit, EventIs):
            continue
        for event in rate.events:
            rate_items.setdefault(event, []).append(rate.name)
            bit_items.setdefault(event, []).append(rate.name)
    for category, events in category_list:
        for event in events:
            if category.field not in category_items.setdefault(event, []):
                category_items[event].append(category.field)
    for per_unit in unit_list:
        for event in per_unit.events:
            if per_unit.unit not in unit_items.setdefault(event, []):
                unit_items[event].append(per_unit.unit)
    return Plan(
        suite=suite,
        layout=layout,
        windows=windows,
        types=types,
        variants=variants,
        durations=duration_list,
        rates=rate_list,
        units=unit_list,
        categories=category_list,
        budgets=thresholds,
        duration_column=_assign(duration_items),
        rate_column=_assign(rate_items),
        hit_bit=_assign(bit_items),
        category_column=_assign(category_items),
        unit_column=_assign(unit_items),
    )


M = TypeVar("M", Duration, Rate, PerUnit)


def _unique(items: Iterable[M]) -> tuple[M, ...]:
    seen: dict[str, M] = {}
    for item in items:
        if seen.setdefault(item.name, item) != item:
            raise ValueError(f"sprintgate: two different measures are named {item.name!r}; name each once.")
    return tuple(seen.values())


class _Builder:
    """Collects bound parameters while the SQL text is written."""

    def __init__(self) -> None:
        self.parameters: dict[str, object] = {}

    def bind(self, value: object, hint: str) -> str:
        for name, bound in self.parameters.items():
            if bound == value and type(bound) is type(value) and name.startswith(hint):
                return f":{name}"
        name = f"{hint}{len(self.parameters)}"
        self.parameters[name] = value
        return f":{name}"


def _events(builder: _Builder, events: Sequence[str]) -> str:
    return f"event_type = any(cast({builder.bind(list(events), 'types_')} as text[]))"


def _by_type(builder: _Builder, arms: Mapping[str, list[str]], default: str) -> str:
    """``case when event_type in (...) then <sql> ... else <default> end`` over arms sql -> types."""
    if not arms:
        return default
    parts = " ".join(f"when {_events(builder, types)} then {sql}" for sql, types in arms.items())
    return f"case {parts} else {default} end"


def _duration_code(builder: _Builder, measure: Duration) -> str:
    value = f"(context -> {builder.bind(measure.field, 'field_')})"
    # Compared as numeric: 1e400 is valid JSON but beyond a float8, and must count as absurd, not fail.
    limit = f"cast({builder.bind(float(measure.limit), 'limit_')} as numeric)"
    floor = f"cast({builder.bind(BUCKET_FLOOR, 'floor_')} as numeric)"
    log_base = builder.bind(math.log(BUCKET_BASE), "log_base_")
    return (
        f"case jsonb_typeof({value}) "
        f"when 'number' then case when {value}::numeric < 0 then {NEGATIVE} "
        f"when {value}::numeric > {limit} then {ABSURD} "
        f"else floor(ln(greatest({value}::numeric, {floor})::float8) / {log_base})::int end "
        f"when 'null' then {MISSING} "
        f"else case when {value} is null then {MISSING} else {NOT_A_NUMBER} end end"
    )


def _rate_state(builder: _Builder, hit: FieldTrue | FieldPresent) -> str:
    value = f"(context -> {builder.bind(hit.field, 'field_')})"
    missing = f"{value} is null or jsonb_typeof({value}) = 'null'"
    if isinstance(hit, FieldTrue):
        return f"case {value} when 'true'::jsonb then 0 when 'false'::jsonb then 0 else case when {missing} then 1 else 2 end end"
    kind = builder.bind(hit.json_type, "json_type_")
    return f"case when {missing} then 0 when jsonb_typeof({value}) = {kind} then 0 else 2 end"


def _rate_hit(builder: _Builder, hit: FieldTrue | FieldPresent) -> str:
    value = f"(context -> {builder.bind(hit.field, 'field_')})"
    if isinstance(hit, FieldTrue):
        return f"coalesce({value} = 'true'::jsonb, false)"
    return f"coalesce(jsonb_typeof({value}) = {builder.bind(hit.json_type, 'json_type_')}, false)"


def _budget_hit(builder: _Builder, measure: Duration, threshold: float) -> str:
    value = f"(context -> {builder.bind(measure.field, 'field_')})"
    bound = builder.bind(float(threshold), "budget_")
    return f"coalesce(jsonb_typeof({value}) = 'number' and {value}::numeric < cast({bound} as numeric), false)"


def _flags(builder: _Builder, suite: Suite) -> str:
    key = builder.bind(suite.flag_field, "flag_field_")
    on = builder.bind(Jsonb({suite.flag_field: dict.fromkeys(suite.flags, True)}), "flags_on_")
    off = builder.bind(Jsonb({suite.flag_field: dict.fromkeys(suite.flags, False)}), "flags_off_")
    names = builder.bind(list(suite.flags), "flag_names_")
    return (
        f"case when context @> cast({on} as jsonb) then 1 "
        f"when context @> cast({off} as jsonb) then 2 "
        "when jsonb_typeof(context) is distinct from 'object' then 0 "
        f"when context -> {key} is null then 3 "
        f"when jsonb_typeof(context -> {key}) <> 'object' then 5 "
        f"when (select bool_and(jsonb_typeof(context -> {key} -> name) = 'boolean') "
        f"from unnest(cast({names} as text[])) as name) then 4 else 5 end"
    )


def _category(builder: _Builder, category: Category) -> str:
    text = f"(context ->> {builder.bind(category.field, 'field_')})"
    values = builder.bind(list(category.values), "values_")
    return f"coalesce(array_position(cast({values} as text[]), {text}), case when {text} is null then -1 else 0 end)"


def _windows(builder: _Builder, windows: tuple[Window, Window]) -> tuple[str, str]:
    """The window test of the where clause, and the window index of a row (0 BASELINE, 1 POST)."""
    (base, post) = windows
    b0, b1 = builder.bind(base.start, "start_"), builder.bind(base.end, "end_")
    p0, p1 = builder.bind(post.start, "start_"), builder.bind(post.end, "end_")
    where = f"((created_at >= {b0} and created_at < {b1}) or (created_at >= {p0} and created_at < {p1}))"
    return where, f"case when created_at >= {p0} then 1 else 0 end"


def _since_start(builder: _Builder, windows: tuple[Window, Window]) -> str:
    """Seconds from the start of a row's window to the row."""
    in_post = f"created_at >= {builder.bind(windows[1].start, 'start_')}"
    epoch = tuple(builder.bind(w.start.timestamp(), "epoch_") for w in windows)
    return f"(date_part('epoch', created_at) - case when {in_post} then {epoch[1]} else {epoch[0]} end)"


def _slot(builder: _Builder, windows: tuple[Window, Window], layout: Layout) -> str:
    """The time slot of a row within its window."""
    in_post = f"created_at >= {builder.bind(windows[1].start, 'start_')}"
    width = tuple(builder.bind(w.length.total_seconds() / layout.slots, "slot_seconds_") for w in windows)
    return f"least({layout.slots - 1}, floor({_since_start(builder, windows)} / case when {in_post} then {width[1]} else {width[0]} end))::int"


def _cluster(builder: _Builder, suite: Suite, groups: int) -> str:
    if suite.cluster is None:
        return "0"
    column = f'"{suite.cluster}"'
    return f"case when {column} is null then {groups} else abs(hashtext({column}::text)) % {groups} end"


def evidence_query(plan: Plan) -> tuple[Query, dict[str, object]]:  # noqa: PLR0912 - one block per column family
    """The one pass over both windows: aggregates per cell, returned as one row of arrays."""
    builder = _Builder()
    suite, layout = plan.suite, plan.layout
    where, window = _windows(builder, plan.windows)
    slot = _slot(builder, plan.windows, layout)
    measures = {m.name: m for m in plan.durations}
    rates = {r.name: r for r in plan.rates}
    columns = [
        Column("w", window),
        Column("slot", slot),
        Column("grp", _cluster(builder, suite, layout.groups)),
        Column("t", f"array_position(cast({builder.bind(list(plan.types), 'all_types_')} as text[]), event_type)"),
        Column("flags", _flags(builder, suite)),
    ]
    for index, name in enumerate(plan._names("d")):
        arms: dict[str, list[str]] = {}
        for (event, measure), column in plan.duration_column.items():
            if column == index:
                arms.setdefault(_duration_code(builder, measures[measure]), []).append(event)
        columns.append(Column(name, _by_type(builder, arms, str(NOT_MEASURED))))
    for index, name in enumerate(plan._names("r")):
        arms = {}
        for (event, rate), column in plan.rate_column.items():
            if column == index:
                hit = rates[rate].hit
                assert isinstance(hit, FieldTrue | FieldPresent)
                arms.setdefault(_rate_state(builder, hit), []).append(event)
        columns.append(Column(name, _by_type(builder, arms, "0")))
    categories = {c.field: c for c, _ in plan.categories}
    for index, name in enumerate(plan._names("c")):
        arms = {}
        for (event, field_name), column in plan.category_column.items():
            if column == index:
                arms.setdefault(_category(builder, categories[field_name]), []).append(event)
        columns.append(Column(name, _by_type(builder, arms, "-1")))
    for index, name in enumerate(plan._names("u")):
        arms = {}
        for (event, unit), column in plan.unit_column.items():
            if column == index:
                arms.setdefault(f'("{unit}" is null)::int', []).append(event)
        columns.append(Column(name, _by_type(builder, arms, "0")))
    bits: dict[int, dict[str, list[str]]] = {}
    for (event, item), bit in plan.hit_bit.items():
        if item in rates:
            hit = rates[item].hit
            assert isinstance(hit, FieldTrue | FieldPresent)
            sql = _rate_hit(builder, hit)
        else:
            measure, _, threshold = item.partition("<")
            sql = _budget_hit(builder, measures[measure], float(threshold))
        bits.setdefault(bit, {}).setdefault(sql, []).append(event)
    for index in range(plan.hit_columns):
        parts = []
        for offset, bit in enumerate((2 * index, 2 * index + 1)):
            if bit in bits:
                test = _by_type(builder, {f"({sql})::int::int8": types for sql, types in bits[bit].items()}, "0::int8")
                parts.append(test if offset == 0 else f"({test} << {_BITS})")
        columns.append(Column(f"h{index}", " + ".join(parts), aggregate=True))

    keys = [c for c in columns if not c.aggregate]
    sums = [c for c in columns if c.aggregate]
    inner = ",\n           ".join(f"{c.sql} as {c.name}" for c in [*keys, *sums])
    grouped = ", ".join(c.name for c in keys)
    outer = (
        ", ".join(f"{c.name}" for c in keys)
        + ", count(*) as n"
        + "".join(f", sum({c.name})::int8 as {c.name}" for c in sums)
    )
    arrays = ", ".join(f"array_agg({name}) as {name}" for name in [*plan.key_columns, *plan.aggregate_columns])
    header = _header(plan)
    text = (
        f"{header}"
        f"select count(*) as rows, {arrays}\n"
        f"  from (select {outer}\n"
        f"          from (select {inner}\n"
        f"                  from {quoted_table(suite)}\n"
        f"                 where {_events(builder, plan.types)}\n"
        f"                   and {where}) as classified\n"
        f"         group by {grouped}) as cells"
    )
    return Query("evidence", text), builder.parameters


def _header(plan: Plan) -> str:
    return (
        "-- name: evidence\n"
        "-- Compiled by sprintgate from the suite's declared measures (sprintgate.compiler).\n"
        "-- One pass over both windows. A cell is a time slot of a window crossed with a cluster group;\n"
        "-- one grouped row per combination that occurs of: w (0 BASELINE, 1 POST), slot, grp (the\n"
        "-- cluster column hashed into groups; the last group holds rows without a value), t (the event\n"
        "-- type's position in the list of types), flags (0 context not an object, 1 on, 2 off, 3 absent,\n"
        "-- 4 mixed, 5 malformed), d* (a duration's 1 % log bucket, or a code for why it is unusable),\n"
        "-- r* (0 usable, 1 missing, 2 wrong type), c* (a category's position, 0 other, -1 none), u*\n"
        "-- (1 when the unit column is null); n rows and h* packed hit counts (two 31-bit counters each).\n"
        "-- The grouped rows come back as one row of arrays, one array per column.\n"
        f"-- Measures: {', '.join([*(m.name for m in plan.durations), *(m.name for m in plan.rates), *(m.name for m in plan.units)]) or 'none'}.\n"
    )


def units_query(plan: Plan) -> tuple[Query, dict[str, object]] | None:
    """Per declared per-unit measure: units by (window, slot of their first row, cluster group,
    rows per unit), from a pass over the measure's event types grouped by unit."""
    if not plan.units:
        return None
    builder = _Builder()
    where, window = _windows(builder, plan.windows)
    slot = _slot(builder, plan.windows, plan.layout)
    group = _cluster(builder, plan.suite, plan.layout.groups)
    branches = []
    for index, measure in enumerate(plan.units):
        unit = f'"{measure.unit}"'
        branches.append(
            f"select {index} as m, w, min(slot) as slot, min(grp) as grp, count(*) as k\n"
            f"  from (select {window} as w, {slot} as slot, {group} as grp, {unit} as unit\n"
            f"          from {quoted_table(plan.suite)}\n"
            f"         where {_events(builder, measure.events)} and {where} and {unit} is not null) as rows_of_units\n"
            " group by w, unit"
        )
    text = (
        "-- name: units\n"
        "-- Compiled by sprintgate from the suite's per-unit measures: one grouped row per (m, w, slot,\n"
        "-- grp, k): how many units of measure m had k rows in window w, by the slot of their first row\n"
        "-- and their cluster group; returned as one row of arrays. Rows without a unit are counted by the\n"
        "-- evidence query.\n"
        "select count(*) as rows, array_agg(m) as m, array_agg(w) as w, array_agg(slot) as slot, array_agg(grp) as grp,\n"
        "       array_agg(k) as k, array_agg(units) as units\n"
        "  from (select m, w, slot, grp, k, count(*) as units\n"
        "          from (" + "\n                union all\n".join(branches) + ") as per_unit\n"
        "         group by m, w, slot, grp, k) as cells"
    )
    return Query("units", text), builder.parameters


#: Cluster groups of the demand query: the restaurant (or tenant) mix is compared over them.
DEMAND_GROUPS = 256


def demand_query(plan: Plan) -> tuple[Query, dict[str, object]]:
    """Demand events per (window, hour of the window, cluster group), and the same per hour only;
    reads two columns, no JSON."""
    builder = _Builder()
    where, window = _windows(builder, plan.windows)
    group = _cluster(builder, plan.suite, DEMAND_GROUPS)
    hour = f"floor({_since_start(builder, plan.windows)} / 3600)::int"
    text = (
        "-- name: demand\n"
        "-- Compiled by sprintgate: the suite's demand events (the event types whose volume the rollout\n"
        "-- should not change), one grouped row per (w, hour, grp) that occurs: w (0 BASELINE, 1 POST),\n"
        "-- hour (hours since the window's start), grp (the cluster column hashed into groups; the last\n"
        "-- group holds rows without a value), n events; returned as one row of arrays.\n"
        "select count(*) as rows, array_agg(w) as w, array_agg(hour) as hour, array_agg(grp) as grp, array_agg(n) as n\n"
        f"  from (select {window} as w, {hour} as hour, {group} as grp, count(*) as n\n"
        f"          from {quoted_table(plan.suite)}\n"
        f"         where {_events(builder, plan.suite.demand)} and {where}\n"
        "         group by 1, 2, 3) as cells"
    )
    return Query("demand", text), builder.parameters
