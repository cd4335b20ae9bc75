"""Phase 3 tables: monitored APIs, per-agent scheduling settings, and job runs.

``monitored_apis`` lists what an agent watches (weight = value of its data;
price and TTL override the seller's catalog when set); ``monitor_settings``
holds the agent's daily budget, the pacing bucket the prioritizer debits and
its own tick interval;
``job_runs`` records every run of a scheduler job and its outcome.
"""

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


class MonitoredApi(db.Model):  # type: ignore[name-defined,misc]
    """One premium API an agent at PHASE3 keeps fresh.

    ``source`` says where the row came from: ``config`` (the environment),
    ``catalog`` (the seller's /api/catalog) or ``cli`` (``autopay monitor add``).
    """

    __tablename__ = "monitored_apis"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "url", name="uq_monitored_apis_agent_url"),
        sa.CheckConstraint("weight > 0", name="weight_positive"),
        sa.CheckConstraint("ttl_seconds IS NULL OR ttl_seconds > 0", name="ttl_positive"),
        sa.CheckConstraint("price IS NULL OR price > 0", name="price_positive"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    weight: Mapped[Decimal] = mapped_column(
        sa.Numeric(12, 4), nullable=False, server_default=sa.text("1")
    )
    price: Mapped[Decimal | None] = mapped_column(Money)
    asset: Mapped[str | None] = mapped_column(sa.String(8))
    ttl_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="cli")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.true())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MonitorSettings(db.Model):  # type: ignore[name-defined,misc]
    """An agent's Phase 3 budget and pacing state (one row per agent)."""

    __tablename__ = "monitor_settings"
    __table_args__ = (
        sa.CheckConstraint(
            "tick_seconds IS NULL OR tick_seconds > 0", name="tick_seconds_positive"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    daily_budget: Mapped[Decimal] = money(default="5")
    #: The pacing bucket holds at most this fraction of the daily budget.
    burst_fraction: Mapped[Decimal] = mapped_column(
        sa.Numeric(6, 4), nullable=False, server_default=sa.text("0.05")
    )
    max_buys_per_tick: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, server_default=sa.text("5")
    )
    #: Seconds between the agent's ticks; None: the scheduler's AUTOPAY_TICK_S.
    tick_seconds: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 3))
    #: When the agent's last tick began (the scheduler's due check reads it).
    last_tick_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    pacing_tokens: Mapped[Decimal | None] = mapped_column(Money)
    pacing_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: The next purchase the last tick planned (api, at, reason).
    next_plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: Bumped by triggers on every change to the agent's ``monitored_apis`` rows
    #: (migration 0018): a tick holding the configuration at this version reuses it.
    apis_version: Mapped[int] = mapped_column(
        sa.BigInteger, nullable=False, server_default=sa.text("0")
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class JobRun(db.Model):  # type: ignore[name-defined,misc]
    """One run of a scheduler job: who ran it, when, and how it ended."""

    __tablename__ = "job_runs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('RUNNING', 'OK', 'ERROR')", name="status_known"),
        sa.Index("ix_job_runs_job_started_at", "job", sa.text("started_at DESC")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    job: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    host: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    pid: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="RUNNING")
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
