"""Dashboard sessions kept on the server, so logout and a password change end them."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from autopay_app.extensions import db
from autopay_app.models.base import created_at, uuid_pk


class AdminSession(db.Model):  # type: ignore[name-defined,misc]
    """One logged-in browser. Its cookie carries a random token; the row holds the token's
    SHA-256 (a copy of the database opens no session) and a tag of the password it was
    opened with (another password ends it)."""

    __tablename__ = "admin_sessions"

    id: Mapped[uuid.UUID] = uuid_pk()
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    password_tag: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, index=True
    )
