"""Creating the contract's table and loading a suite's synthetic rows into a database the caller owns
(the embedded demo, the suite's and the engine's tests). Never used on a staging or production DSN."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg

from sprintgate.contract import columns, quoted_table, schema_sql
from sprintgate.suite import Suite

_BATCH = 20_000


def _plain(value: Any) -> Any:
    """numpy scalars (a generator's np.bool_ or np.float64) as the Python values JSON knows."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON")


_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_plain)


def create_schema(connection: psycopg.Connection[Any], suite: Suite) -> None:
    """Create the suite's table and its (event_type, created_at) index as the contract defines them."""
    connection.execute(schema_sql(suite))


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    text = _JSON.encode(value) if isinstance(value, dict | list) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def load_rows(
    connection: psycopg.Connection[Any],
    suite: Suite,
    rows: Iterable[tuple[Any, ...]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY ``rows`` (in the contract's column order) into the suite's table; returns how many.
    ``progress`` hears the running count after every batch."""
    names = ", ".join(columns(suite))
    width = len(columns(suite))
    count = 0
    batch: list[str] = []
    with connection.cursor() as cursor, cursor.copy(f"copy {quoted_table(suite)} ({names}) from stdin") as copy:
        for row in rows:
            if len(row) != width:
                raise ValueError(f"sprintgate: a demo row has {len(row)} columns, the contract {width} ({names})")
            try:
                batch.append("\t".join(_copy_text(v) for v in row) + "\n")
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"sprintgate: a demo row of event type {row[2]!r} cannot be written ({error}); fix the suite's demo generator"
                ) from None
            if len(batch) == _BATCH:
                copy.write("".join(batch))
                count += len(batch)
                batch.clear()
                if progress is not None:
                    progress(count)
        copy.write("".join(batch))
        count += len(batch)
    connection.execute(f"analyze {quoted_table(suite)}")
    if progress is not None:
        progress(count)
    return count
