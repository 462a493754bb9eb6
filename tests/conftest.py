"""Fixture databases for the engine's tests.

One throwaway PostgreSQL server per session (sprintgate.server: as root it runs as ``nobody`` and
leaves nothing behind); pytest-postgresql's janitor builds one template database per demo scenario of
the auto-assign suite (goals/) and each test gets a fresh copy of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from goals.rollout import SUITE
from sprintgate.fixturedb import create_schema, load_rows
from sprintgate.server import ThrowawayServer

pytest_plugins = ["pytester"]

#: Scenario volume in unit tests: a quarter of the demo, enough for every goal to decide.
TEST_SCALE = 0.25
SEED = 20251112
_names = itertools.count()
Database = Callable[[str], psycopg.Connection[Any]]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayServer]:
    with ThrowawayServer() as server:
        yield server


def _janitor(server: ThrowawayServer, dbname: str, **kwargs: Any) -> DatabaseJanitor:
    return DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname=dbname, password=None, **kwargs)


@pytest.fixture(scope="session")
def scenario_template(pg_server: ThrowawayServer) -> Iterator[Callable[[str], str]]:
    """Returns the name of a template database holding a scenario (built on first use; ``empty``: the
    contract's table and nothing in it)."""
    built: dict[str, DatabaseJanitor] = {}

    def template(scenario: str) -> str:
        if scenario not in built:
            janitor = _janitor(pg_server, f"tmpl_{scenario}", as_template=True)
            janitor.init()
            with psycopg.connect(pg_server.conninfo(janitor.dbname), autocommit=True) as connection:
                create_schema(connection, SUITE)
                if scenario != "empty":
                    assert SUITE.demo is not None
                    load_rows(connection, SUITE, SUITE.demo.rows(scenario, scale=TEST_SCALE, seed=SEED))
            built[scenario] = janitor
        return built[scenario].dbname

    yield template
    for janitor in built.values():
        janitor.drop()


@pytest.fixture
def database(pg_server: ThrowawayServer, scenario_template: Callable[[str], str]) -> Iterator[Database]:
    """``database("rollout_met")``: a connection to a fresh copy of that scenario (``"empty"``: schema only)."""
    opened: list[tuple[DatabaseJanitor, psycopg.Connection[Any]]] = []

    def open_copy(scenario: str) -> psycopg.Connection[Any]:
        janitor = _janitor(pg_server, f"test_{next(_names)}", template_dbname=scenario_template(scenario))
        janitor.init()
        connection = psycopg.connect(pg_server.conninfo(janitor.dbname), autocommit=True)
        opened.append((janitor, connection))
        return connection

    yield open_copy
    for janitor, connection in opened:
        connection.close()
        janitor.drop()
