"""Per-agent spend policy, circuit breaker state, and pending approvals (Phase 2)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from autopay_app.extensions import db
from autopay_app.models.base import Money, created_at, money, updated_at, uuid_pk

JSONB = postgresql.JSONB(none_as_null=True)


class SpendPolicy(db.Model):  # type: ignore[name-defined,misc]
    """What an agent may pay. Amounts are token units of USD stablecoins (USDC, CASH).

    ``api_caps`` maps an endpoint path to ``{"hourly": "0.5", "daily": "2"}``;
    ``allowed_hosts`` / ``allowed_recipients`` are allowed besides the premium API's host
    and the recipients its catalog names (``*``: any); see :mod:`autopay_app.agent.policy`.
    """

    __tablename__ = "spend_policies"

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    per_request_cap: Mapped[Decimal] = money(default="0.10")
    hourly_cap: Mapped[Decimal] = money(default="5")
    daily_cap: Mapped[Decimal] = money(default="50")
    api_caps: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"), default=dict
    )
    allowed_assets: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=sa.text('\'["USDC", "CASH"]\'::jsonb'),
        default=lambda: ["USDC", "CASH"],
    )
    allowed_hosts: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"), default=list
    )
    allowed_recipients: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"), default=list
    )
    #: A quote above the catalog price by more than this fraction is refused.
    max_quote_drift: Mapped[Decimal] = mapped_column(
        sa.Numeric(6, 4), nullable=False, server_default=sa.text("0.10")
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class CircuitBreaker(db.Model):  # type: ignore[name-defined,misc]
    """One breaker per guarded service (``seller:<host>``, ``rpc``, ``facilitator``)."""

    __tablename__ = "circuit_breakers"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="CLOSED")
    consecutive_failures: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, server_default=sa.text("0")
    )
    opened_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PaymentApproval(db.Model):  # type: ignore[name-defined,misc]
    """A 402 waiting for a person's decision (Phase 2): nothing is signed before APPROVED."""

    __tablename__ = "payment_approvals"
    __table_args__ = (
        sa.CheckConstraint(
            "decision IN ('PENDING', 'APPROVED', 'DECLINED', 'EXPIRED')", name="decision_known"
        ),
        sa.Index("ix_payment_approvals_agent_id_decision", "agent_id", "decision"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    api_request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("api_requests.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    offer_index: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    currency: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    pay_to: Mapped[str] = mapped_column(sa.String(44), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    decision: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="PENDING")
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SpendMinute(db.Model):  # type: ignore[name-defined,misc]
    """What an agent committed per minute and endpoint: the spend windows' running sums.

    Kept by the ``payments_spend_minutes`` trigger (migration 0007) from every payment
    that is not FAILED, so a window (the last hour, the last day) is a sum over at
    most 60 or 1,440 rows per endpoint instead of over every payment in it. A
    window starts at the minute boundary before ``now - length``: it counts up to one
    minute more than the exact rolling window, never less (caps err on the safe side).
    """

    __tablename__ = "spend_minutes"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    amount: Mapped[Decimal] = money(default="0")
