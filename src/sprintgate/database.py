"""Read-only connections to a telemetry database: one session, one snapshot, faults as one line."""

from __future__ import annotations

from typing import Any

import psycopg

from sprintgate.dsn import Dsn

APPLICATION_NAME = "sprintgate"


class DatabaseError(RuntimeError):
    """A fault talking to the telemetry database, with secrets already removed from the message."""


def _one_line(error: BaseException, dsn: Dsn) -> str:
    text = " ".join(str(error).split())
    return dsn.scrub(text) or type(error).__name__


def connect(
    dsn: Dsn, *, statement_timeout_s: float, connect_timeout_s: float, work_mem_mb: int
) -> psycopg.Connection[Any]:
    """A connection whose every transaction is read-only (the server refuses writes), REPEATABLE READ
    (every query of the run reads one snapshot), with timeouts and the gate's planner settings."""
    # Planner settings for this session only, measured with bench/run.py: JIT-compiling the evidence
    # queries costs more than it saves; the planner overestimates their groups and would keep them
    # out of parallel workers; the cells of one pass fit in work_mem.
    timeout_ms = max(1, round(statement_timeout_s * 1000))
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms} "
        f"-c idle_in_transaction_session_timeout={timeout_ms + 60000} "
        f"-c jit=off -c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c work_mem={work_mem_mb}MB"
    )
    message = None
    try:
        connection = psycopg.connect(
            dsn.reveal(),
            autocommit=False,
            connect_timeout=max(1, round(connect_timeout_s)),
            application_name=APPLICATION_NAME,
            options=options,
        )
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    except (psycopg.Error, ValueError) as error:
        message = f"sprintgate: could not connect to {dsn.display}: {_one_line(error, dsn)}"
    if message is not None:
        # Raised outside the except block, so no traceback carries the driver's frames and values.
        raise DatabaseError(message)
    return connection
