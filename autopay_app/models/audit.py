"""The append-only audit trail and the classification of every failure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from autopay_app.extensions import db
from autopay_app.models.base import created_at, updated_at, uuid_pk
from autopay_app.models.enums import AuditEventType, ErrorCategory, Severity, pg_enum

#: The expression behind the full-text index over ``details``: every string but the status
#: events' own ids (migration 0017; a search for a whole id finds those by ``related_id``).
DETAILS_TSVECTOR = (
    "to_tsvector('simple'::regconfig, details - '{payment_id,api_request_id}'::text[])"
)


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """One event. Append-only: a trigger refuses UPDATE and DELETE outside retention.

    Every event belongs to an agent except ``BACKUP`` (the whole ledger's).

    Range-partitioned by month on ``created_at`` (primary key ``(id, created_at)``).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_agent_id_created_at", "agent_id", sa.text("created_at DESC")),
        sa.Index(
            "ix_audit_events_type_severity_created_at",
            "event_type",
            "severity",
            sa.text("created_at DESC"),
        ),
        sa.Index("ix_audit_events_details_fts", sa.text(DETAILS_TSVECTOR), postgresql_using="gin"),
        sa.Index("ix_audit_events_related_id", "related_id"),
        sa.Index("ix_audit_events_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
        # Only a backup of the whole ledger is nobody's event.
        sa.CheckConstraint(
            "agent_id IS NOT NULL OR event_type::text = 'BACKUP'", name="agent_unless_backup"
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    created_at: Mapped[datetime] = created_at(primary_key=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="RESTRICT")
    )
    event_type: Mapped[AuditEventType] = mapped_column(
        pg_enum(AuditEventType, "audit_event_type"), nullable=False
    )
    related_id: Mapped[uuid.UUID | None] = mapped_column(postgresql.UUID(as_uuid=True))
    details: Mapped[dict[str, Any] | None] = mapped_column(postgresql.JSONB(none_as_null=True))
    severity: Mapped[Severity] = mapped_column(
        pg_enum(Severity, "audit_severity"),
        nullable=False,
        server_default=Severity.INFO.value,
        default=Severity.INFO,
    )
    updated_at: Mapped[datetime] = updated_at()


class ErrorClassification(db.Model):  # type: ignore[name-defined,misc]
    """Why a request, a payment or one retry attempt failed, and whether to retry.

    The seed names this entity without a table; it links to the failed subject
    (at least one of request, payment, attempt) and keeps the x402 reason code
    when a facilitator or seller gave one.
    """

    __tablename__ = "error_classifications"
    __table_args__ = (
        sa.CheckConstraint(
            "num_nonnulls(api_request_id, payment_id, retry_attempt_id) >= 1",
            name="has_subject",
        ),
        sa.Index("ix_error_classifications_category_created_at", "category", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    api_request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_requests.id", ondelete="CASCADE"), index=True
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    retry_attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("retry_attempts.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[ErrorCategory] = mapped_column(
        pg_enum(ErrorCategory, "error_category"), nullable=False
    )
    retryable: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    message: Mapped[str] = mapped_column(sa.Text, nullable=False)
    x402_reason: Mapped[str | None] = mapped_column(sa.String(128))
    details: Mapped[dict[str, Any] | None] = mapped_column(postgresql.JSONB(none_as_null=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
