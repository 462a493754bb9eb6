"""The telemetry contract (docs/telemetry.md): the table a team's telemetry must offer the gate.

Every suite reads one table with four core columns and the extra columns it declares
(:attr:`sprintgate.suite.Suite.columns`). The gate checks the table against this contract in the
catalog before it reads a row, so a wrong column type is one line naming the contract, not a
traceback per goal.
"""

from __future__ import annotations

from collections.abc import Mapping

from sprintgate.suite import Suite

#: Core columns and the types the gate accepts for each (as ``format_type`` spells them).
CORE: dict[str, tuple[str, ...]] = {
    "id": ("uuid", "text", "bigint", "character varying"),
    "created_at": ("timestamp with time zone",),
    "event_type": ("text", "character varying"),
    "context": ("jsonb",),
}
#: Declared column types and the catalog types that satisfy them.
DECLARED: dict[str, tuple[str, ...]] = {
    "uuid": ("uuid",),
    "text": ("text", "character varying"),
    "bigint": ("bigint", "integer"),
    "integer": ("integer", "bigint", "smallint"),
}


def columns(suite: Suite) -> dict[str, tuple[str, ...]]:
    """Every column the suite reads with the catalog types that satisfy the contract, in load order."""
    return {**CORE, **{name: DECLARED[kind] for name, kind in suite.columns.items()}}


def quoted_table(suite: Suite) -> str:
    """The table as an SQL identifier. Suite validates it as a plain name, so quoting is enough."""
    return ".".join(f'"{part}"' for part in suite.table.split("."))


def violations(suite: Suite, found: Mapping[str, str]) -> list[str]:
    """What the table's columns (name -> catalog type) lack against the contract, in words."""
    problems = []
    for name, accepted in columns(suite).items():
        kind = found.get(name)
        if kind is None:
            problems.append(f"column {name} is missing")
        elif kind not in accepted:
            problems.append(f"{name} is {kind}, the contract needs {' or '.join(accepted)}")
    return problems


def schema_sql(suite: Suite) -> str:
    """``create table`` for the suite's table as the contract defines it (demo and test databases)."""
    table = quoted_table(suite)
    extra = "".join(f",\n    {name} {kind} null" for name, kind in suite.columns.items())
    return (
        f"create table {table} (\n"
        "    id uuid primary key,\n"
        "    created_at timestamptz not null,\n"
        "    event_type text not null,\n"
        f"    context jsonb not null default '{{}}'{extra}\n"
        ");\n"
        f"create index on {table} (event_type, created_at);\n"
    )
