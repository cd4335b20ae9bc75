"""Lists, detail pages and the autonomy switch behind the dashboard and the JSON API.

The overview's reads live in :mod:`autopay_app.ledger.overview`, the research
export in :mod:`autopay_app.ledger.export`. Every list here is newest first
with keyset pagination on ``(created_at, id)``: a caller passes the last
row's pair as ``before`` and asks for ``limit + 1`` rows to learn whether
another page exists. The payments list reads the
``payment_ledger`` view (one row per payment with its agent, request and
latest transaction log). The audit trail reuses
:func:`autopay_app.ledger.queries.audit_select`. The one write is
:func:`set_autonomy` (from :mod:`autopay_app.ledger.agents`), which records who switched
an agent's level.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger.agents import set_autonomy  # noqa: F401  (re-exported for the views)
from autopay_app.ledger.queries import AuditFilter, S, audit_page
from autopay_app.models import (
    Agent,
    ApiRequest,
    ApiType,
    AuditEvent,
    ConfirmationStatus,
    Currency,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    RetryAttempt,
    TransactionLog,
)
from autopay_app.models.enums import pg_enum

Cursor = tuple[datetime, uuid.UUID]

#: The ``payment_ledger`` view (migration 0001), as much of it as the list shows.
payment_ledger = sa.table(
    "payment_ledger",
    sa.column("payment_id", sa.Uuid),
    sa.column("agent_id", sa.Uuid),
    sa.column("agent_name", sa.String),
    sa.column("api_request_id", sa.Uuid),
    sa.column("endpoint", sa.String),
    sa.column("api_type", pg_enum(ApiType, "api_type")),
    sa.column("amount", sa.Numeric),
    sa.column("currency", pg_enum(Currency, "payment_currency")),
    sa.column("payment_status", pg_enum(PaymentStatus, "payment_status")),
    sa.column("payment_hash", sa.String),
    sa.column("pay_to", sa.String),
    sa.column("network", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("confirmation_status", pg_enum(ConfirmationStatus, "confirmation_status")),
    sa.column("gas_fees", sa.Numeric),
)


@dataclass(frozen=True)
class RequestFilter:
    agent_id: uuid.UUID | None = None
    status: RequestStatus | None = None
    api_type: ApiType | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: Cursor | None = None
    limit: int = 50


@dataclass(frozen=True)
class PaymentFilter:
    agent_id: uuid.UUID | None = None
    status: PaymentStatus | None = None
    currency: Currency | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: Cursor | None = None
    limit: int = 50


@dataclass
class RequestDetail:
    request: ApiRequest
    agent: Agent
    retries: list[RetryAttempt]
    classifications: list[ErrorClassification]
    payments: list[Payment]


@dataclass
class PaymentDetail:
    payment: Payment
    agent: Agent
    request: ApiRequest
    logs: list[TransactionLog]
    history: list[AuditEvent]


def _keyset(query: S, created: Any, key: Any, before: Cursor | None) -> S:
    if before is not None:
        query = query.where(sa.tuple_(created, key) < sa.tuple_(*before))
    return query.order_by(created.desc(), key.desc())


def window(query: S, created: Any, since: datetime | None, until: Any) -> S:
    """``query`` restricted to ``since <= created < until`` (either bound optional)."""
    if since is not None:
        query = query.where(created >= since)
    if until is not None:
        query = query.where(created < until)
    return query


def list_agents(session: Session) -> list[Agent]:
    with session.begin():
        return list(session.scalars(sa.select(Agent).order_by(Agent.name)))


def get_agent(session: Session, agent_id: uuid.UUID) -> Agent | None:
    with session.begin():
        return session.get(Agent, agent_id)


def audit_events(session: Session, flt: AuditFilter) -> list[AuditEvent]:
    """One page of the audit trail (see :func:`autopay_app.ledger.queries.audit_select`)."""
    with session.begin():
        return audit_page(session, flt)


def requests_page(session: Session, flt: RequestFilter) -> list[tuple[ApiRequest, str]]:
    """One page of requests with their agent's name, newest first."""
    query = sa.select(ApiRequest, Agent.name).join(Agent, Agent.id == ApiRequest.agent_id)
    for column, value in (
        (ApiRequest.agent_id, flt.agent_id),
        (ApiRequest.status, flt.status),
        (ApiRequest.api_type, flt.api_type),
        (ApiRequest.endpoint, flt.endpoint),
    ):
        if value is not None:
            query = query.where(column == value)
    query = window(query, ApiRequest.created_at, flt.since, flt.until)
    query = _keyset(query, ApiRequest.created_at, ApiRequest.id, flt.before).limit(flt.limit)
    with session.begin():
        return [(r, name) for r, name in session.execute(query).all()]


def request_detail(session: Session, request_id: uuid.UUID) -> RequestDetail | None:
    """A request with its agent, retries, failure classifications and payments."""
    with session.begin():
        request = session.get(ApiRequest, request_id)
        if request is None:
            return None
        classifications = session.scalars(
            sa.select(ErrorClassification)
            .where(ErrorClassification.api_request_id == request_id)
            .order_by(ErrorClassification.created_at)
        )
        payments = session.scalars(
            sa.select(Payment)
            .where(Payment.api_request_id == request_id)
            .order_by(Payment.created_at)
        )
        return RequestDetail(
            request=request,
            agent=session.get_one(Agent, request.agent_id),
            retries=list(request.retry_attempts),
            classifications=list(classifications),
            payments=list(payments),
        )


def payments_page(session: Session, flt: PaymentFilter) -> list[sa.RowMapping]:
    """One page of the ``payment_ledger`` view, newest first."""
    v = payment_ledger.c
    query = sa.select(payment_ledger)
    for column, value in (
        (v.agent_id, flt.agent_id),
        (v.payment_status, flt.status),
        (v.currency, flt.currency),
    ):
        if value is not None:
            query = query.where(column == value)
    query = window(query, v.created_at, flt.since, flt.until)
    query = _keyset(query, v.created_at, v.payment_id, flt.before).limit(flt.limit)
    with session.begin():
        return list(session.execute(query).mappings().all())


def payment_detail(session: Session, payment_id: uuid.UUID) -> PaymentDetail | None:
    """A payment with its request, transaction logs and status history (audit events)."""
    with session.begin():
        payment = session.get(Payment, payment_id)
        if payment is None:
            return None
        history = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.related_id == payment_id)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return PaymentDetail(
            payment=payment,
            agent=session.get_one(Agent, payment.agent_id),
            request=session.get_one(ApiRequest, payment.api_request_id),
            logs=list(payment.transaction_logs),
            history=list(history),
        )


def audit_event(session: Session, event_id: uuid.UUID) -> AuditEvent | None:
    with session.begin():
        return session.scalar(sa.select(AuditEvent).where(AuditEvent.id == event_id).limit(1))
