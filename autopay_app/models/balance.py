"""The latest balance read of each agent wallet (one row per agent and wallet)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from autopay_app.extensions import db
from autopay_app.models.base import created_at, money, updated_at, uuid_pk


class WalletBalance(db.Model):  # type: ignore[name-defined,misc]
    """Balances in token units, as last read from the chain."""

    __tablename__ = "wallet_balances"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "wallet_address", name="uq_wallet_balances_agent_wallet"),
        sa.Index("ix_wallet_balances_agent_id_last_checked", "agent_id", "last_checked"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    wallet_address: Mapped[str] = mapped_column(sa.String(44), nullable=False)
    balance_sol: Mapped[Decimal] = money(default="0")
    balance_cash: Mapped[Decimal] = money(default="0")
    balance_usdc: Mapped[Decimal] = money(default="0")
    threshold: Mapped[Decimal] = money()
    last_checked: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    low_balance_event: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, server_default=sa.false(), default=False
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
