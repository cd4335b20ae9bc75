"""Dashboard sessions: open one at login, check it on each request, close it at logout.

The cookie holds a random token; the ledger only its SHA-256. A session is live
while it has not expired, was not closed, and was opened under the password in
force now (``password_tag``): changing the admin password ends every session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import AdminSession


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, password_tag: str, lifetime: timedelta) -> str:
    """A new session's token (expired sessions are swept at the same time)."""
    token = secrets.token_urlsafe(32)
    with session.begin():
        session.execute(sa.delete(AdminSession).where(AdminSession.expires_at <= sa.func.now()))
        session.add(
            AdminSession(
                token_hash=_hash(token),
                password_tag=password_tag,
                expires_at=sa.func.now() + lifetime,
            )
        )
    return token


def is_live(session: Session, token: str, password_tag: str) -> bool:
    """True while the session of ``token`` is open, unexpired and of this password."""
    with session.begin():
        found = session.scalar(
            sa.select(AdminSession.id).where(
                AdminSession.token_hash == _hash(token),
                AdminSession.password_tag == password_tag,
                AdminSession.expires_at > sa.func.now(),
            )
        )
    return found is not None


def close(session: Session, token: str) -> None:
    """End the session of ``token`` (logout)."""
    with session.begin():
        session.execute(sa.delete(AdminSession).where(AdminSession.token_hash == _hash(token)))
