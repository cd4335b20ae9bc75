"""The ledger's database roles (created by migration 0005) and switching between them.

- ``autopay_owner`` owns every table, partition, view, type and function.
- ``autopay_app`` is what the running application is (``autopay_app.db_roles``
  switches to it on connect): it reads and writes the ledger but may only
  append to ``audit_events`` and owns nothing, so it cannot disable triggers.
- ``autopay_maintenance`` (a member of ``autopay_owner``) creates partitions and
  applies retention; the append-only trigger lets deletes through for it alone.

``SET ROLE`` is checked against the *session* user, so a connection that
switched to ``autopay_app`` can still take ``autopay_maintenance`` for one
transaction when its login user is a member of both (the migrating user and
superusers are).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.errors import DatabaseError

OWNER = "autopay_owner"
APP = "autopay_app"
MAINTENANCE = "autopay_maintenance"
ROLES = (OWNER, APP, MAINTENANCE)


def become_maintenance(session: Session) -> None:
    """``SET LOCAL ROLE autopay_maintenance`` for the session's current transaction.

    Raises:
        DatabaseError: The login user may not take the maintenance role.
    """
    member = session.execute(
        sa.text("SELECT pg_has_role(session_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = :r"),
        {"r": MAINTENANCE},
    ).scalar_one_or_none()
    if not member:
        raise DatabaseError(
            f"the database user may not act as {MAINTENANCE}: "
            f"GRANT {MAINTENANCE} TO <login user> (run the migrations first)"
        )
    session.execute(sa.text(f"SET LOCAL ROLE {MAINTENANCE}"))


def current_role(session: Session) -> str:
    return str(session.execute(sa.text("SELECT current_user")).scalar_one())


def owned_by(session: Session, role: str) -> list[str]:
    """Relations, functions and types of the current database that ``role`` owns."""
    rows = session.execute(
        sa.text(
            "SELECT relname FROM pg_class WHERE relowner = CAST(:r AS regrole) "
            "UNION ALL SELECT proname FROM pg_proc WHERE proowner = CAST(:r AS regrole) "
            "UNION ALL SELECT typname FROM pg_type WHERE typowner = CAST(:r AS regrole) "
            "ORDER BY 1"
        ),
        {"r": role},
    )
    return [r[0] for r in rows]
