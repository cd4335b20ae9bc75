"""Requests to premium APIs and their retry attempts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from autopay_app.extensions import db
from autopay_app.models.base import created_at, updated_at, uuid_pk
from autopay_app.models.enums import ApiType, RequestKind, RequestStatus, RetryOutcome, pg_enum


class ApiRequest(db.Model):  # type: ignore[name-defined,misc]
    """One request for a premium resource, from PENDING to ACCESSED or FAILED.

    ``http_status`` is NULL until an answer arrives: the row is written before
    the call (the seed's NOT NULL cannot hold for a write-ahead PENDING row).
    """

    __tablename__ = "api_requests"
    __table_args__ = (
        sa.Index("ix_api_requests_agent_id_endpoint", "agent_id", "endpoint"),
        sa.Index("ix_api_requests_agent_id_status_created_at", "agent_id", "status", "created_at"),
        sa.Index("ix_api_requests_x402_instructions", "x402_instructions", postgresql_using="gin"),
        sa.Index("ix_api_requests_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
        sa.CheckConstraint("request_kind = 'HTTP' OR tool_name IS NOT NULL", name="mcp_has_tool"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="RESTRICT"), nullable=False
    )
    endpoint: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    url: Mapped[str | None] = mapped_column(sa.Text)
    method: Mapped[str] = mapped_column(sa.String(8), nullable=False, server_default="GET")
    api_type: Mapped[ApiType] = mapped_column(pg_enum(ApiType, "api_type"), nullable=False)
    http_status: Mapped[int | None] = mapped_column(sa.Integer)
    x402_instructions: Mapped[dict[str, Any] | None] = mapped_column(
        postgresql.JSONB(none_as_null=True)
    )
    request_payload: Mapped[dict[str, Any] | None] = mapped_column(
        postgresql.JSONB(none_as_null=True)
    )
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(
        postgresql.JSONB(none_as_null=True)
    )
    data_accessed: Mapped[Any | None] = mapped_column(postgresql.JSONB(none_as_null=True))
    status: Mapped[RequestStatus] = mapped_column(
        pg_enum(RequestStatus, "request_status"),
        nullable=False,
        server_default=RequestStatus.PENDING.value,
        default=RequestStatus.PENDING,
    )
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer)
    #: MCP tool calls (migration 0012): the tool, the SHA-256 of its canonical JSON arguments.
    request_kind: Mapped[RequestKind] = mapped_column(
        pg_enum(RequestKind, "request_kind"),
        nullable=False,
        server_default=RequestKind.HTTP.value,
        default=RequestKind.HTTP,
    )
    tool_name: Mapped[str | None] = mapped_column(sa.String(128))
    arguments_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: Why the caller asked (an LLM agent's words through ``autopay mcp``).
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    payments = relationship("Payment", back_populates="api_request", passive_deletes="all")
    retry_attempts = relationship(
        "RetryAttempt",
        back_populates="api_request",
        passive_deletes=True,
        order_by="RetryAttempt.attempt_number",
    )


class RetryAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One retry (1 to 3) of a request or a payment, with its backoff and outcome."""

    __tablename__ = "retry_attempts"
    __table_args__ = (
        sa.CheckConstraint("attempt_number BETWEEN 1 AND 3", name="attempt_number_range"),
        sa.CheckConstraint(
            "api_request_id IS NOT NULL OR payment_id IS NOT NULL", name="has_subject"
        ),
        sa.Index("ix_retry_attempts_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    api_request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_requests.id", ondelete="CASCADE"), index=True
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    backoff_delay: Mapped[timedelta] = mapped_column(sa.Interval, nullable=False)
    outcome: Mapped[RetryOutcome] = mapped_column(
        pg_enum(RetryOutcome, "retry_outcome"), nullable=False
    )
    detail: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    api_request = relationship("ApiRequest", back_populates="retry_attempts")
