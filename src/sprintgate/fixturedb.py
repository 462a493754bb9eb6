"""Loading the telemetry schema and synthetic scenarios into a database the caller owns."""

from __future__ import annotations

from typing import Any

import psycopg

from sprintgate.resources import resource_dir
from sprintgate.synthetic import COPY_COLUMNS, DEFAULT_SEED, generate, load_scenario

_BATCH = 20_000


def create_schema(connection: psycopg.Connection[Any]) -> None:
    """Create ``observability_events`` and its index as ``fixtures/schema.sql`` defines them."""
    connection.execute((resource_dir("fixtures") / "schema.sql").read_text(encoding="utf-8"))


def load_events(
    connection: psycopg.Connection[Any], scenario: str, *, scale: float = 1.0, seed: int = DEFAULT_SEED
) -> int:
    """COPY the events of ``scenario`` into ``observability_events``; returns how many."""
    count = 0
    batch: list[str] = []
    with connection.cursor() as cursor, cursor.copy(f"copy observability_events ({COPY_COLUMNS}) from stdin") as copy:
        for line in generate(load_scenario(scenario), scale=scale, seed=seed):
            batch.append(line)
            if len(batch) == _BATCH:
                copy.write("".join(batch))
                count += len(batch)
                batch.clear()
        copy.write("".join(batch))
        count += len(batch)
    connection.execute("analyze observability_events")
    return count
