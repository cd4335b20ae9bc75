"""Reads behind the overview page: one card per agent, and the spend chart.

Every statistic covers a bounded window (:data:`WINDOW`, the last 24 hours,
which the page says), so the page costs what the recent traffic costs, not
what the ledger's history costs. Each read is one statement for all agents:

* requests by status: the window's ``api_requests`` rows, found through the
  ``(created_at DESC, id DESC)`` index (migration 0004), grouped by agent and
  status;
* failures by classification: ``error_classifications`` through its
  ``(category, created_at)`` index, one range per category (the category list
  is the enum's), grouped by agent;
* retries: the window's requests joined to the window's ``retry_attempts``
  (both found by their ``created_at`` indexes, migration 0013);
* latest balance: one LATERAL probe of ``(agent_id, last_checked)`` per agent;
* circuit breakers: the ``circuit_breakers`` table
  (:func:`autopay_app.ledger.breakers.states`); a breaker guards a service
  (``seller:<host>``, ``rpc``, ``facilitator``) shared by every agent;
* spend chart: the last ``days`` days of moving payments, an index-only scan of
  ``(status, created_at) INCLUDE (currency, amount, agent_id)`` (migration 0013),
  summed per UTC day and asset.

:func:`overview_queries` names these statements so the benchmark can print
their plans.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from autopay_app.ledger import breakers
from autopay_app.ledger.queries import AnySelect
from autopay_app.models import (
    Agent,
    ApiRequest,
    Currency,
    ErrorCategory,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    RetryAttempt,
    WalletBalance,
)

#: How far back the overview's statistics look.
WINDOW = timedelta(hours=24)
#: Payments that moved money (counted in the spend chart).
SPENT = (PaymentStatus.CONFIRMED, PaymentStatus.VERIFIED)
#: The spend chart's longest window, in days.
MAX_SPEND_DAYS = 90

Counts = dict[uuid.UUID, dict[str, int]]


@dataclass
class AgentOverview:
    """One agent's card on the overview page (statistics over ``since`` .. now)."""

    agent: Agent
    balance: WalletBalance | None
    low_assets: list[str]
    requests_by_status: dict[str, int]
    failures_by_category: dict[str, int]
    retries: int
    breakers: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None

    @property
    def requests(self) -> int:
        return sum(self.requests_by_status.values())

    @property
    def success_rate(self) -> float | None:
        """Share of finished requests that reached the data (None before any finished)."""
        ok = self.requests_by_status.get(RequestStatus.ACCESSED.value, 0)
        done = ok + self.requests_by_status.get(RequestStatus.FAILED.value, 0)
        return ok / done if done else None


def latest_balance(session: Session, agent_id: uuid.UUID) -> WalletBalance | None:
    """The agent's latest balance read (inside the caller's transaction)."""
    query = (
        sa.select(WalletBalance)
        .where(WalletBalance.agent_id == agent_id)
        .order_by(WalletBalance.last_checked.desc())
        .limit(1)
    )
    return session.scalar(query)


def agent_balance(session: Session, agent_id: uuid.UUID) -> WalletBalance | None:
    """The agent's latest balance read, in a transaction of its own."""
    with session.begin():
        return latest_balance(session, agent_id)


def low_assets(balance: WalletBalance | None, threshold: Decimal) -> list[str]:
    """The assets (USDC, CASH) whose balance is below the agent's threshold."""
    if balance is None:
        return []
    limit = balance.threshold if balance.threshold is not None else threshold
    pairs = (("USDC", balance.balance_usdc), ("CASH", balance.balance_cash))
    return [asset for asset, amount in pairs if amount < limit]


# ------------------------------------------------------------------ queries
def requests_query(since: datetime) -> sa.Select[uuid.UUID, RequestStatus, int]:
    """(agent_id, status, count) of the requests made since ``since``."""
    r = ApiRequest
    return (
        sa.select(r.agent_id, r.status, sa.func.count())
        .where(r.created_at >= since)
        .group_by(r.agent_id, r.status)
    )


def failures_query(since: datetime) -> sa.Select[uuid.UUID | None, ErrorCategory, int]:
    """(agent_id, category, count) of the failures classified since ``since``."""
    e = ErrorClassification
    return (
        sa.select(e.agent_id, e.category, sa.func.count())
        .where(e.category.in_(list(ErrorCategory)), e.created_at >= since)
        .group_by(e.agent_id, e.category)
    )


def retries_query(since: datetime) -> sa.Select[uuid.UUID, int]:
    """(agent_id, count) of the retries of the requests made since ``since``."""
    r = ApiRequest
    return (
        sa.select(r.agent_id, sa.func.count())
        .join(RetryAttempt, RetryAttempt.api_request_id == r.id)
        # implied (a request's retries come after it), and it lets the window's retries
        # be found by ix_retry_attempts_created_at instead of reading them all
        .where(r.created_at >= since, RetryAttempt.created_at >= since)
        .group_by(r.agent_id)
    )


def agents_query() -> sa.Select[Agent, WalletBalance]:
    """Every agent by name with its latest balance read (or None)."""
    latest = (
        sa.select(WalletBalance)
        .where(WalletBalance.agent_id == Agent.id)
        .order_by(WalletBalance.last_checked.desc())
        .limit(1)
        .lateral("latest_balance")
    )
    balance = aliased(WalletBalance, latest)
    return sa.select(Agent, balance).outerjoin(latest, sa.true()).order_by(Agent.name)


def spend_query(
    since: datetime, agent_id: uuid.UUID | None = None
) -> sa.Select[datetime, Currency, Decimal]:
    """(UTC day, asset, total) of the money spent since ``since``."""
    day = sa.func.date_trunc("day", sa.func.timezone("UTC", Payment.created_at))
    query = sa.select(day, Payment.currency, sa.func.sum(Payment.amount)).where(
        Payment.status.in_(SPENT), Payment.created_at >= since
    )
    if agent_id is not None:
        query = query.where(Payment.agent_id == agent_id)
    return query.group_by(day, Payment.currency).order_by(day)


def overview_queries(since: datetime) -> Iterator[tuple[str, AnySelect]]:
    """The overview's statements by name (the benchmark prints their plans)."""
    yield "agents + latest balance", agents_query()
    yield "requests by status", requests_query(since)
    yield "failures by classification", failures_query(since)
    yield "retries", retries_query(since)
    yield "spend chart (14 days)", spend_query(since - timedelta(days=13))


# -------------------------------------------------------------------- reads
def _counts(session: Session, query: sa.Select[uuid.UUID | None, Any, int]) -> Counts:
    out: Counts = defaultdict(dict)
    for row in session.execute(query):
        agent_id, key, n = row[0], row[1], row[2]
        if agent_id is not None:
            out[agent_id][str(key)] = n
    return out


def overview(
    session: Session, now: datetime | None = None, window: timedelta = WINDOW
) -> list[AgentOverview]:
    """The overview of every agent, by name, with statistics over ``window`` before ``now``."""
    since = (now or datetime.now(UTC)) - window
    with session.begin():
        agents = session.execute(agents_query()).all()
        by_status = _counts(session, requests_query(since))
        failures = _counts(session, failures_query(since))
        retries = dict(session.execute(retries_query(since)).all())
    states = breakers.states(session)
    return [
        AgentOverview(
            agent=agent,
            balance=balance,
            low_assets=low_assets(balance, agent.balance_threshold),
            requests_by_status=by_status.get(agent.id, {}),
            failures_by_category=failures.get(agent.id, {}),
            retries=retries.get(agent.id, 0),
            breakers=states,
            since=since,
        )
        for agent, balance in agents
    ]


def spend_series(
    session: Session, agent_id: uuid.UUID | None = None, days: int = 14
) -> list[tuple[str, str, Decimal]]:
    """Money spent per UTC day and asset over the last ``days`` days: (day, asset, total).

    Raises:
        ValueError: ``days`` is outside 1 .. :data:`MAX_SPEND_DAYS`.
    """
    if not 1 <= days <= MAX_SPEND_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_SPEND_DAYS}, got {days}")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with session.begin():
        rows = session.execute(spend_query(today - timedelta(days=days - 1), agent_id)).all()
    return [(d.date().isoformat(), str(c), total) for d, c, total in rows]
