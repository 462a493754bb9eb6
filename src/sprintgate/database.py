"""Read-only connections to a telemetry database, and keeping DSN secrets out of every output."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict

APPLICATION_NAME = "sprintgate"


class DatabaseError(RuntimeError):
    """A fault talking to the telemetry database, with secrets already removed from the message."""


class Dsn:
    """A connection string that never shows its password: ``str()`` and ``repr()`` are redacted."""

    __slots__ = ("_secrets", "_value", "display")

    def __init__(self, value: str) -> None:
        self._value = value
        self._secrets = _secrets_of(value)
        self.display = _display(value)

    def reveal(self) -> str:
        return self._value

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def __repr__(self) -> str:
        return f"Dsn({self.display!r})"

    __str__ = __repr__


def _secrets_of(value: str) -> tuple[str, ...]:
    found: set[str] = set()
    match = re.match(r"^[a-z][a-z0-9+.-]*://[^:@/]*:([^@/]*)@", value, re.IGNORECASE)
    if match and match.group(1):
        found.update({match.group(1), unquote(match.group(1))})
    for pattern in (r"password\s*=\s*'((?:[^'\\]|\\.)*)'", r"password\s*=\s*([^\s&']+)"):
        for raw in re.findall(pattern, value, re.IGNORECASE):
            found.update({raw, unquote(raw)})
    try:
        password = conninfo_to_dict(value).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.update({str(password), quote(str(password), safe="")})
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def _display(value: str) -> str:
    try:
        parts = conninfo_to_dict(value)
    except psycopg.Error:
        return "<a DSN that does not parse>"
    user = parts.get("user") or ""
    host = parts.get("host") or "localhost"
    port = parts.get("port")
    dbname = parts.get("dbname") or ""
    password = ":***" if parts.get("password") else ""
    return f"postgresql://{user}{password}{'@' if user else ''}{host}{':' + str(port) if port else ''}/{dbname}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _one_line(error: BaseException, dsn: Dsn) -> str:
    text = " ".join(str(error).split())
    return dsn.scrub(text) or type(error).__name__


def connect(dsn: Dsn, *, statement_timeout_s: float, connect_timeout_s: float) -> psycopg.Connection[Any]:
    """A connection whose session is read-only (the server refuses writes), with timeouts."""
    # Planner settings for this session only, measured with bench/run.py at a million events per
    # window: JIT-compiling the evidence queries costs more than it saves, and the planner
    # overestimates their groups and so keeps them out of parallel workers.
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout_s * 1000)} "
        f"-c idle_in_transaction_session_timeout={int(statement_timeout_s * 1000) + 60000} "
        "-c jit=off -c parallel_setup_cost=0 -c parallel_tuple_cost=0"
    )
    message = None
    try:
        connection = psycopg.connect(
            dsn.reveal(),
            autocommit=True,
            connect_timeout=max(1, round(connect_timeout_s)),
            application_name=APPLICATION_NAME,
            options=options,
        )
    except (psycopg.Error, ValueError) as error:
        message = f"sprintgate: could not connect to {dsn.display}: {_one_line(error, dsn)}"
    if message is not None:
        # Raised outside the except block, so no traceback carries the driver's frames and values.
        raise DatabaseError(message)
    return connection
