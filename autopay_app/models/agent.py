"""Agents: one autonomous payer each, identified by its wallet's public key."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from autopay_app.extensions import db
from autopay_app.models.base import created_at, money, updated_at, uuid_pk
from autopay_app.models.enums import AutonomyLevel, pg_enum


class Agent(db.Model):  # type: ignore[name-defined,misc]
    """An agent. Only its public key is stored; private keys never enter the database."""

    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False, unique=True)
    autonomy_level: Mapped[AutonomyLevel] = mapped_column(
        pg_enum(AutonomyLevel, "autonomy_level"), nullable=False
    )
    wallet_address: Mapped[str] = mapped_column(sa.String(44), nullable=False, index=True)
    #: The session token, AES-GCM encrypted (see :mod:`autopay_app.secrets`).
    session_token_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.true())
    #: Low-balance threshold per asset, in token units.
    balance_threshold: Mapped[Decimal] = money(default="0.01")
    #: Set by ``autopay agent forget``: the agent was pseudonymised.
    erased_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    def __repr__(self) -> str:
        return f"<Agent {self.name} {self.wallet_address}>"
