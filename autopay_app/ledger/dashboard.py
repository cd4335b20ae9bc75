"""Reads and writes behind the dashboard and the JSON API.

Every list is newest first with keyset pagination on ``(created_at, id)``: a
caller passes the last row's pair as ``before`` and asks for ``limit + 1``
rows to learn whether another page exists. The payments list reads the
``payment_ledger`` view (one row per payment with its agent, request and
latest transaction log). The audit trail reuses
:func:`autopay_app.ledger.queries.audit_select`. The one write is
:func:`set_autonomy`, which records who switched an agent's level.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.errors import LedgerError
from autopay_app.ledger.queries import AuditFilter, audit_page
from autopay_app.models import (
    Agent,
    ApiRequest,
    ApiType,
    AuditEvent,
    AuditEventType,
    AutonomyLevel,
    ConfirmationStatus,
    Currency,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    RetryAttempt,
    Severity,
    TransactionLog,
    WalletBalance,
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

#: Payments that moved money (counted in the spend chart).
SPENT = (PaymentStatus.CONFIRMED, PaymentStatus.VERIFIED)


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
class AgentOverview:
    """One agent's card on the overview page."""

    agent: Agent
    balance: WalletBalance | None
    low_assets: list[str]
    requests_by_status: dict[str, int]
    failures_by_category: dict[str, int]
    retries: int
    breakers: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.requests_by_status.values())

    @property
    def success_rate(self) -> float | None:
        """Share of finished requests that reached the data (None before any finished)."""
        ok = self.requests_by_status.get(RequestStatus.ACCESSED.value, 0)
        done = ok + self.requests_by_status.get(RequestStatus.FAILED.value, 0)
        return ok / done if done else None


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


def _keyset(query: sa.Select[Any], created: Any, key: Any, before: Cursor | None) -> Any:
    if before is not None:
        query = query.where(sa.tuple_(created, key) < sa.tuple_(*before))
    return query.order_by(created.desc(), key.desc())


def _window(query: sa.Select[Any], created: Any, since: datetime | None, until: Any) -> Any:
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


def agent_balance(session: Session, agent_id: uuid.UUID) -> WalletBalance | None:
    """The agent's latest balance read, in a transaction of its own."""
    with session.begin():
        return latest_balance(session, agent_id)


def audit_events(session: Session, flt: AuditFilter) -> list[AuditEvent]:
    """One page of the audit trail (see :func:`autopay_app.ledger.queries.audit_select`)."""
    with session.begin():
        return audit_page(session, flt)


def latest_balance(session: Session, agent_id: uuid.UUID) -> WalletBalance | None:
    query = (
        sa.select(WalletBalance)
        .where(WalletBalance.agent_id == agent_id)
        .order_by(WalletBalance.last_checked.desc())
        .limit(1)
    )
    return session.scalar(query)


def low_assets(balance: WalletBalance | None, threshold: Decimal) -> list[str]:
    """The assets (USDC, CASH) whose balance is below the agent's threshold."""
    if balance is None:
        return []
    limit = balance.threshold if balance.threshold is not None else threshold
    pairs = (("USDC", balance.balance_usdc), ("CASH", balance.balance_cash))
    return [asset for asset, amount in pairs if amount < limit]


def _breakers(session: Session, agent_id: uuid.UUID) -> dict[str, str]:
    """Latest state of each circuit breaker, from the agent's recent breaker events."""
    rows = session.scalars(
        sa.select(AuditEvent.details)
        .where(
            AuditEvent.agent_id == agent_id,
            AuditEvent.event_type == AuditEventType.CIRCUIT_BREAKER,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(50)
    )
    states: dict[str, str] = {}
    for details in rows:
        details = details or {}
        name = str(details.get("breaker", "default"))
        states.setdefault(name, str(details.get("state", "UNKNOWN")))
    return states


def agent_overview(session: Session, agent: Agent) -> AgentOverview:
    """Balances, request statistics, failures, retries and breakers of one agent."""
    by_status = session.execute(
        sa.select(ApiRequest.status, sa.func.count())
        .where(ApiRequest.agent_id == agent.id)
        .group_by(ApiRequest.status)
    ).all()
    failures = session.execute(
        sa.select(ErrorClassification.category, sa.func.count())
        .where(ErrorClassification.agent_id == agent.id)
        .group_by(ErrorClassification.category)
    ).all()
    retries = session.scalar(
        sa.select(sa.func.count())
        .select_from(RetryAttempt)
        .join(ApiRequest, ApiRequest.id == RetryAttempt.api_request_id)
        .where(ApiRequest.agent_id == agent.id)
    )
    balance = latest_balance(session, agent.id)
    return AgentOverview(
        agent=agent,
        balance=balance,
        low_assets=low_assets(balance, agent.balance_threshold),
        requests_by_status={str(s): n for s, n in by_status},
        failures_by_category={str(c): n for c, n in failures},
        retries=retries or 0,
        breakers=_breakers(session, agent.id),
    )


def overview(session: Session) -> list[AgentOverview]:
    """The overview of every agent, by name."""
    with session.begin():
        agents = session.scalars(sa.select(Agent).order_by(Agent.name)).all()
        return [agent_overview(session, agent) for agent in agents]


def spend_series(
    session: Session, agent_id: uuid.UUID | None = None, days: int = 14
) -> list[tuple[str, str, Decimal]]:
    """Money spent per UTC day and asset over the last ``days`` days: (day, asset, total)."""
    day = sa.func.date_trunc("day", sa.func.timezone("UTC", Payment.created_at))
    query = sa.select(day, Payment.currency, sa.func.sum(Payment.amount)).where(
        Payment.status.in_(SPENT),
        Payment.created_at >= datetime.now(UTC) - timedelta(days=days),
    )
    if agent_id is not None:
        query = query.where(Payment.agent_id == agent_id)
    with session.begin():
        rows = session.execute(query.group_by(day, Payment.currency).order_by(day)).all()
    return [(d.date().isoformat(), str(c), total) for d, c, total in rows]


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
    query = _window(query, ApiRequest.created_at, flt.since, flt.until)
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
    query = _window(query, v.created_at, flt.since, flt.until)
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


@dataclass(frozen=True)
class ExportFilter:
    agent_id: uuid.UUID | None = None
    api_type: ApiType | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ExportRow:
    request_id: uuid.UUID
    agent: str
    endpoint: str
    api_type: str
    url: str | None
    accessed_at: datetime
    data: Any


def export_rows(session: Session, flt: ExportFilter, batch: int = 500) -> Iterator[ExportRow]:
    """Every request with accessed data matching ``flt``, oldest first, streamed in batches."""
    query = (
        sa.select(ApiRequest, Agent.name)
        .join(Agent, Agent.id == ApiRequest.agent_id)
        .where(ApiRequest.data_accessed.is_not(None))
    )
    for column, value in (
        (ApiRequest.agent_id, flt.agent_id),
        (ApiRequest.api_type, flt.api_type),
        (ApiRequest.endpoint, flt.endpoint),
    ):
        if value is not None:
            query = query.where(column == value)
    query = _window(query, ApiRequest.created_at, flt.since, flt.until)
    query = query.order_by(ApiRequest.created_at, ApiRequest.id)
    with session.begin():
        result = session.execute(query.execution_options(yield_per=batch))
        for request, name in result:
            yield ExportRow(
                request.id,
                name,
                request.endpoint,
                str(request.api_type),
                request.url,
                request.created_at,
                request.data_accessed,
            )
            session.expunge(request)


def set_autonomy(session: Session, agent_id: uuid.UUID, level: AutonomyLevel, actor: str) -> Agent:
    """Switch an agent's autonomy level and record who did it (AGENT_DECISION event).

    Raises:
        LedgerError: No such agent.
    """
    with session.begin():
        agent = session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise LedgerError(f"no agent with id {agent_id}")
        previous = agent.autonomy_level
        agent.autonomy_level = level
        session.add(
            AuditEvent(
                agent_id=agent.id,
                event_type=AuditEventType.AGENT_DECISION,
                severity=Severity.INFO,
                related_id=agent.id,
                details={
                    "decision": "autonomy_level_changed",
                    "from": str(previous),
                    "to": str(level),
                    "actor": actor,
                },
            )
        )
    return agent
