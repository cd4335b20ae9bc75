"""A pooled connection the server has dropped is never handed out: checked without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` on every checkout: a round trip
that cost ~0.14 ms of client CPU (and the server's work) per checkout, and the
agent checks a connection out four or five times per paid request. When
PostgreSQL ends a connection (a restart, ``pg_terminate_backend``, an idle
timeout, a crash) it sends its FATAL message and closes the socket, so an idle
pooled connection whose socket has become readable is dead, and one whose socket
has nothing to read is as alive as a ping would find it (a host gone without a
word hangs a ping too). ``install(engine)`` adds a ``checkout`` hook that polls
the socket (no wait) and makes the pool open a fresh connection instead of one
that is closed, broken or readable (SQLAlchemy's "pessimistic disconnect
handling" by a checkout event).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine


def dropped(dbapi_conn: Any) -> bool:
    """True when the idle psycopg connection ``dbapi_conn`` cannot be used: closed,
    broken, or the server has written to (or closed) its socket meanwhile."""
    if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):
        return True
    try:
        fd = dbapi_conn.pgconn.socket
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):  # no socket: not usable
        return True


def install(engine: Engine) -> None:
    """Check every connection ``engine``'s pool hands out (instead of ``pool_pre_ping``)."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if dropped(dbapi_conn):
            # The pool discards it and retries with a fresh connection.
            raise exc.DisconnectionError("the server closed this pooled connection")
