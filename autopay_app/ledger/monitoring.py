"""Phase 3 database work: monitored APIs, budgets, the prioritizer's inputs and decisions.

The prioritizer's staleness read is one statement over ``api_requests`` that
rides the ``(agent_id, status, created_at)`` index: for one agent, the ACCESSED
and FAILED rows newer than a cut-off (the longest useful staleness window),
grouped by URL into "last access" and "recent failures". It never scans older
history, so its cost follows the purchases in the window, not the ledger's size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from autopay_app.ledger import spend
from autopay_app.models import (
    Agent,
    ApiRequest,
    AuditEvent,
    AuditEventType,
    CircuitBreaker,
    MonitoredApi,
    MonitorSettings,
    RequestStatus,
    Severity,
    SpendPolicy,
    WalletBalance,
)

#: Marks the prioritizer's AGENT_DECISION events (``details->>'kind'``).
DECISION_KIND = "phase3"


@dataclass(frozen=True)
class ApiState:
    """A monitored API with what the ledger knows of it."""

    url: str
    weight: Decimal
    price: Decimal | None
    asset: str | None
    ttl_seconds: int | None
    source: str
    last_access: datetime | None
    failures: int


@dataclass
class Snapshot:
    """Everything the prioritizer decides from, read in one transaction."""

    apis: list[ApiState]
    daily_budget: Decimal
    burst_fraction: Decimal
    max_buys_per_tick: int
    pacing_tokens: Decimal | None
    pacing_at: datetime | None
    per_request_cap: Decimal
    hourly_cap: Decimal
    daily_cap: Decimal
    allowed_assets: list[str]
    spent_hour: Decimal
    spent_day: Decimal
    balances: dict[str, Decimal] = field(default_factory=dict)
    threshold: Decimal = Decimal("0")
    paused: bool = False
    breakers: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------- settings
def ensure_settings(
    session: Session, agent_id: uuid.UUID, daily_budget: Decimal, burst: Decimal, max_buys: int
) -> MonitorSettings:
    """The agent's Phase 3 settings, created with these defaults when absent."""
    with session.begin():
        session.execute(
            insert(MonitorSettings)
            .values(
                agent_id=agent_id,
                daily_budget=daily_budget,
                burst_fraction=burst,
                max_buys_per_tick=max_buys,
            )
            .on_conflict_do_nothing(index_elements=["agent_id"])
        )
        return session.scalars(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent_id)
        ).one()


SETTINGS_FIELDS = ("daily_budget", "burst_fraction", "max_buys_per_tick")


def update_settings(session: Session, agent_id: uuid.UUID, **changes: Any) -> int:
    """Change budget fields of an existing settings row; returns rows changed."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not a monitor setting: {', '.join(sorted(unknown))}")
    with session.begin():
        result = session.execute(
            sa.update(MonitorSettings).where(MonitorSettings.agent_id == agent_id).values(**changes)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------ monitored APIs
def upsert_api(
    session: Session,
    agent_id: uuid.UUID,
    url: str,
    *,
    weight: Decimal | None = None,
    price: Decimal | None = None,
    asset: str | None = None,
    ttl_seconds: int | None = None,
    source: str = "cli",
    replace: bool = True,
) -> bool:
    """Add ``url`` to the agent's monitored APIs; with ``replace``, update given fields.

    Returns:
        True when a row was inserted or changed.
    """
    values: dict[str, Any] = {"weight": weight, "price": price, "asset": asset}
    values |= {"ttl_seconds": ttl_seconds}
    given = {k: v for k, v in values.items() if v is not None}
    stmt = insert(MonitoredApi).values(agent_id=agent_id, url=url, source=source, **given)
    if replace and given:
        stmt = stmt.on_conflict_do_update(constraint="uq_monitored_apis_agent_url", set_=given)
    else:
        stmt = stmt.on_conflict_do_nothing(constraint="uq_monitored_apis_agent_url")
    with session.begin():
        return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def remove_api(session: Session, agent_id: uuid.UUID, url: str) -> bool:
    with session.begin():
        result = session.execute(
            sa.delete(MonitoredApi).where(
                MonitoredApi.agent_id == agent_id, MonitoredApi.url == url
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def list_apis(session: Session, agent_id: uuid.UUID) -> list[MonitoredApi]:
    with session.begin():
        return list(
            session.scalars(
                sa.select(MonitoredApi)
                .where(MonitoredApi.agent_id == agent_id)
                .order_by(MonitoredApi.weight.desc(), MonitoredApi.url)
            )
        )


def agent_id_for(session: Session, name: str | None) -> tuple[uuid.UUID, str]:
    """The id and name of the agent called ``name`` (the only agent when ``name`` is None)."""
    with session.begin():
        query = sa.select(Agent.id, Agent.name).where(Agent.erased_at.is_(None))
        rows = session.execute(query.where(Agent.name == name) if name else query).all()
    if len(rows) != 1:
        from autopay_app.errors import LedgerError

        known = "no such agent" if not rows else "several agents: name one with --agent"
        raise LedgerError(f"cannot choose the agent ({known})")
    return rows[0][0], rows[0][1]


def active_agents(session: Session) -> list[Agent]:
    with session.begin():
        return list(
            session.scalars(
                sa.select(Agent)
                .where(Agent.is_active, Agent.erased_at.is_(None))
                .order_by(Agent.name)
            )
        )


# ------------------------------------------------------ the prioritizer's read
def stats_query(agent_id: uuid.UUID, cut: datetime, fail_cut: datetime) -> sa.Select[Any]:
    """Last ACCESSED time and FAILED count since ``fail_cut``, per URL, since ``cut``."""
    r = ApiRequest
    return (
        sa.select(
            r.url,
            sa.func.max(r.created_at).filter(r.status == RequestStatus.ACCESSED).label("last"),
            sa.func.count()
            .filter(r.status == RequestStatus.FAILED, r.created_at > fail_cut)
            .label("failures"),
        )
        .where(
            r.agent_id == agent_id,
            r.status.in_([RequestStatus.ACCESSED, RequestStatus.FAILED]),
            r.created_at > cut,
        )
        .group_by(r.url)
    )


def _monitored(session: Session, agent_id: uuid.UUID) -> list[Any]:
    m = MonitoredApi
    return list(
        session.execute(
            sa.select(m.url, m.weight, m.price, m.asset, m.ttl_seconds, m.source).where(
                m.agent_id == agent_id, m.enabled
            )
        )
    )


def snapshot(
    session: Session,
    agent_id: uuid.UUID,
    now: datetime,
    *,
    window_for: Any,
    failure_window_s: float = 3600.0,
) -> Snapshot:
    """Read the prioritizer's inputs for ``agent_id`` in one transaction.

    Args:
        window_for: ``window_for(rows) -> seconds``: how far back staleness matters.
        failure_window_s: Failures newer than this count against an API.
    """
    with session.begin():
        rows = _monitored(session, agent_id)
        window = max(float(window_for(rows)), failure_window_s)
        query = stats_query(
            agent_id, now - timedelta(seconds=window), now - timedelta(seconds=failure_window_s)
        )
        stats = {u: (last, int(n)) for u, last, n in session.execute(query)}
        apis = [
            ApiState(
                m.url,
                m.weight,
                m.price,
                m.asset,
                m.ttl_seconds,
                m.source,
                *stats.get(m.url, (None, 0)),
            )
            for m in rows
        ]
        settings = session.scalars(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent_id)
        ).one()
        policy = session.scalars(
            sa.select(SpendPolicy).where(SpendPolicy.agent_id == agent_id)
        ).one()
        snap = Snapshot(
            apis=apis,
            daily_budget=settings.daily_budget,
            burst_fraction=settings.burst_fraction,
            max_buys_per_tick=settings.max_buys_per_tick,
            pacing_tokens=settings.pacing_tokens,
            pacing_at=settings.pacing_at,
            per_request_cap=policy.per_request_cap,
            hourly_cap=policy.hourly_cap,
            daily_cap=policy.daily_cap,
            allowed_assets=list(policy.allowed_assets),
            spent_hour=spend.spent_since(session, agent_id, 1),
            spent_day=spend.spent_since(session, agent_id, 24),
        )
        _add_balance_and_breakers(session, agent_id, snap)
        return snap


def _add_balance_and_breakers(session: Session, agent_id: uuid.UUID, snap: Snapshot) -> None:
    balance = session.scalars(
        sa.select(WalletBalance)
        .where(WalletBalance.agent_id == agent_id)
        .order_by(WalletBalance.last_checked.desc())
        .limit(1)
    ).first()
    if balance is not None:
        snap.balances = {
            "USDC": balance.balance_usdc,
            "CASH": balance.balance_cash,
            "SOL": balance.balance_sol,
        }
        snap.threshold, snap.paused = balance.threshold, balance.low_balance_event
    snap.breakers = dict(
        session.execute(
            sa.select(CircuitBreaker.name, CircuitBreaker.state).where(
                CircuitBreaker.name.like("seller:%")
            )
        ).all()
    )


# ----------------------------------------------------------------- decisions
def record_tick(
    session: Session,
    agent_id: uuid.UUID,
    decisions: list[dict[str, Any]],
    *,
    tokens: Decimal,
    at: datetime,
    plan: dict[str, Any] | None,
) -> None:
    """Write one AGENT_DECISION event per decision and the pacing state, atomically."""
    rows = [
        {
            "id": uuid.uuid4(),
            "agent_id": agent_id,
            "event_type": AuditEventType.AGENT_DECISION,
            "severity": Severity.WARNING if d.get("outcome") == "FAILED" else Severity.INFO,
            "related_id": d.get("request_id"),
            "details": {"kind": DECISION_KIND, **{k: v for k, v in d.items() if k != "request_id"}}
            | ({"request_id": str(d["request_id"])} if d.get("request_id") else {}),
        }
        for d in decisions
    ]
    with session.begin():
        if rows:
            session.execute(insert(AuditEvent), rows)
        session.execute(
            sa.update(MonitorSettings)
            .where(MonitorSettings.agent_id == agent_id)
            .values(pacing_tokens=tokens, pacing_at=at, next_plan=plan)
        )


def record_top_up(
    session: Session, agent_id: uuid.UUID, before: dict[str, str], after: dict[str, str]
) -> None:
    """A LOW_BALANCE-family event (state TOP_UP): funds arrived in the wallet."""
    with session.begin():
        session.add(
            AuditEvent(
                agent_id=agent_id,
                event_type=AuditEventType.LOW_BALANCE,
                severity=Severity.INFO,
                details={"state": "TOP_UP", "before": before, "after": after},
            )
        )


def decisions(
    session: Session, agent_id: uuid.UUID, limit: int = 20, since: datetime | None = None
) -> list[AuditEvent]:
    """The prioritizer's latest decisions for ``agent_id``, newest first."""
    query = (
        sa.select(AuditEvent)
        .where(
            AuditEvent.agent_id == agent_id,
            AuditEvent.event_type == AuditEventType.AGENT_DECISION,
            AuditEvent.details["kind"].astext == DECISION_KIND,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    with session.begin():
        return list(session.scalars(query))


# --------------------------------------------------------------------- panel
def panel(
    session: Session, agent_id: uuid.UUID, now: datetime | None = None, limit: int = 10
) -> dict[str, Any]:
    """The dashboard's Phase 3 panel: monitored APIs and their freshness, plan, decisions."""
    now = now or datetime.now(UTC)
    rows = list_apis(session, agent_id)
    window = max((r.ttl_seconds or 60 for r in rows), default=60) * 4
    with session.begin():
        settings = session.scalar(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent_id)
        )
        query = stats_query(agent_id, now - timedelta(seconds=window), now - timedelta(hours=1))
        stats = {u: (last, int(n)) for u, last, n in session.execute(query)}
    apis = []
    for r in rows:
        last, failures = stats.get(r.url, (None, 0))
        age = (now - last).total_seconds() if last else None
        fresh = bool(r.ttl_seconds and age is not None and age < r.ttl_seconds)
        apis.append(
            {
                "url": r.url,
                "weight": str(r.weight),
                "price": None if r.price is None else str(r.price),
                "asset": r.asset or "USDC",
                "ttl_seconds": r.ttl_seconds,
                "source": r.source,
                "enabled": r.enabled,
                "last_access": last.isoformat() if last else None,
                "age_s": None if age is None else round(age, 1),
                "fresh": fresh,
                "fresh_until": (last + timedelta(seconds=r.ttl_seconds)).isoformat()
                if fresh and last and r.ttl_seconds
                else None,
                "failures_last_hour": failures,
            }
        )
    recent = [
        {"at": e.created_at.isoformat(), **(e.details or {})}
        for e in decisions(session, agent_id, limit)
    ]
    return {
        "agent_id": str(agent_id),
        "settings": None
        if settings is None
        else {
            "daily_budget": str(settings.daily_budget),
            "burst_fraction": str(settings.burst_fraction),
            "max_buys_per_tick": settings.max_buys_per_tick,
            "pacing_tokens": None
            if settings.pacing_tokens is None
            else str(settings.pacing_tokens),
        },
        "apis": apis,
        "next_plan": settings.next_plan if settings else None,
        "decisions": recent,
    }
