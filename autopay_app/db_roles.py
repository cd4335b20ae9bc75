"""Connect as the login user, then work as the application role.

``install(engine)`` adds a SQLAlchemy ``connect`` hook: every new connection
runs ``SET ROLE autopay_app`` when its login user is a member of that role
(superusers are members of every role; a dedicated login user is granted it
by migration 0005 or a DBA). A database without the role (not yet migrated)
or a login user outside it keeps the login user's own rights.

Migrations must keep the migrating user's rights (they create and hand over
objects), and Alembic runs them over this same engine: while an Alembic
environment is active new connections stay as they are, and a ``checkout``
hook recycles any pooled connection whose role does not fit the moment (an
app connection during a migration, a migration connection afterwards).
"""

from __future__ import annotations

from typing import Any

import alembic.context
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from autopay_app.ledger.roles import APP

_KEY = "autopay_role"
_SWITCHED = "switched"  # this connection did SET ROLE
_KEPT = "kept"  # not a member, or no such role: the login user's rights
_MIGRATION = "migration"  # opened while Alembic ran: the login user's rights


def migrating() -> bool:
    """True while an Alembic environment (``env.py``) runs in this process."""
    return getattr(alembic.context, "_proxy", None) is not None


def _switch(dbapi_conn: Any, role: str) -> str:
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a SET ROLE inside a transaction is lost on rollback
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute(
                "SELECT pg_has_role(session_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
                (role,),
            )
            row = cur.fetchone()
            if not (row and row[0]):
                return _KEPT
            cur.execute(f'SET ROLE "{role}"')
            return _SWITCHED
    finally:
        dbapi_conn.autocommit = autocommit


def install(engine: Engine, role: str | None = APP) -> None:
    """Make ``engine``'s connections work as ``role`` (``None`` or ``""``: leave them)."""
    if not role:
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        record.info[_KEY] = _MIGRATION if migrating() else _switch(dbapi_conn, role)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        state = record.info.get(_KEY)
        if (state == _MIGRATION) != migrating():
            # The pool retries with a fresh connection, which ``_connect`` sets up.
            raise exc.DisconnectionError(f"connection role {state!r} does not fit")
