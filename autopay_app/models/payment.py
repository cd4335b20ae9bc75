"""Payments and the on-chain transaction logs that prove them.

Money records are never deleted by a cascade: deleting an agent, a request or a
payment that still has children is refused by the database (ON DELETE RESTRICT).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from autopay_app.extensions import db
from autopay_app.models.base import Money, created_at, money, updated_at, uuid_pk
from autopay_app.models.enums import ConfirmationStatus, Currency, PaymentStatus, pg_enum


class Payment(db.Model):  # type: ignore[name-defined,misc]
    """One x402 payment, from INITIATED through SIGNED and CONFIRMED to VERIFIED or FAILED.

    ``payer_signature`` (the agent's own signature) and ``memo`` identify the
    transaction before settlement; ``payment_hash`` (the transaction id, i.e. the
    fee payer's signature) is known from the settlement receipt or the chain.
    ``signed_transaction`` and ``last_valid_block_height`` are written before the
    payment is sent, so a retry resends the same bytes (write-ahead).
    """

    __tablename__ = "payments"
    __table_args__ = (
        sa.Index("ix_payments_agent_id_currency_created_at", "agent_id", "currency", "created_at"),
        sa.Index(  # covering: the spend chart is an index-only scan (migration 0013)
            "ix_payments_status_created_at",
            "status",
            "created_at",
            postgresql_include=["currency", "amount", "agent_id"],
        ),
        sa.Index("ix_payments_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    api_request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("api_requests.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="RESTRICT"), nullable=False
    )
    amount: Mapped[Decimal] = money()
    currency: Mapped[Currency] = mapped_column(
        pg_enum(Currency, "payment_currency"), nullable=False
    )
    facilitator_url: Mapped[str | None] = mapped_column(sa.String(255))
    payment_hash: Mapped[str | None] = mapped_column(sa.String(88), unique=True)
    status: Mapped[PaymentStatus] = mapped_column(
        pg_enum(PaymentStatus, "payment_status"),
        nullable=False,
        server_default=PaymentStatus.INITIATED.value,
        default=PaymentStatus.INITIATED,
    )
    verification_callback: Mapped[dict[str, Any] | None] = mapped_column(
        postgresql.JSONB(none_as_null=True)
    )
    #: Reserved for a future move to Solana mainnet; always false on Devnet.
    mainnet_flag: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, server_default=sa.false(), default=False
    )
    network: Mapped[str | None] = mapped_column(sa.String(64))
    asset_mint: Mapped[str | None] = mapped_column(sa.String(44))
    amount_atomic: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 0))
    pay_to: Mapped[str | None] = mapped_column(sa.String(44))
    payer_signature: Mapped[str | None] = mapped_column(sa.String(88), unique=True)
    memo: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    signed_transaction: Mapped[str | None] = mapped_column(sa.Text)
    last_valid_block_height: Mapped[int | None] = mapped_column(sa.BigInteger)
    payment_identifier: Mapped[str | None] = mapped_column(sa.String(128))
    x402_version: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: The person's wallet that signed (migration 0014); NULL when the agent's key signed.
    payer_address: Mapped[str | None] = mapped_column(sa.String(44))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    api_request = relationship("ApiRequest", back_populates="payments")
    transaction_logs = relationship(
        "TransactionLog",
        back_populates="payment",
        passive_deletes="all",
        order_by="TransactionLog.created_at.desc()",
    )


class TransactionLog(db.Model):  # type: ignore[name-defined,misc]
    """What the chain says about a payment's transaction, at one confirmation level.

    Range-partitioned by month on ``created_at`` (primary key ``(id, created_at)``).
    """

    __tablename__ = "transaction_logs"
    __table_args__ = (
        sa.Index(
            "ix_transaction_logs_payment_id_created_at",
            "payment_id",
            sa.text("created_at DESC"),
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    created_at: Mapped[datetime] = created_at(primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="RESTRICT"), nullable=False
    )
    solana_tx_metadata: Mapped[dict[str, Any]] = mapped_column(postgresql.JSONB, nullable=False)
    confirmation_status: Mapped[ConfirmationStatus] = mapped_column(
        pg_enum(ConfirmationStatus, "confirmation_status"), nullable=False
    )
    #: Fee in lamports.
    gas_fees: Mapped[Decimal | None] = mapped_column(Money)
    is_duplicate: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, server_default=sa.false(), default=False
    )
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = updated_at()

    payment = relationship("Payment", back_populates="transaction_logs")
