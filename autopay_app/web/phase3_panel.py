"""The Phase 3 panel as shown: monitored APIs with their freshness and latest decision, the
plan, recent decisions.

Built from the ledger's reads (:mod:`autopay_app.ledger.monitoring`) for the
dashboard's ``phase3_panel.html`` partial, the JSON API and ``autopay monitor
list``: amounts as strings, times in ISO 8601, freshness worked out for ``now``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from autopay_app.ledger import monitoring
from autopay_app.models import MonitoredApi, MonitorSettings


def api_row(
    r: MonitoredApi,
    stats: dict[str, tuple[datetime | None, int]],
    now: datetime,
    latest: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One monitored API: its terms, when it was last bought, whether that is still fresh,
    and the prioritizer's latest decision on it (``latest``: URL -> decision)."""
    last, failures = stats.get(r.url, (None, 0))
    decision = (latest or {}).get(r.url)
    age = (now - last).total_seconds() if last else None
    fresh = bool(r.ttl_seconds and age is not None and age < r.ttl_seconds)
    until = last + timedelta(seconds=r.ttl_seconds) if fresh and last and r.ttl_seconds else None
    return {
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
        "fresh_until": until.isoformat() if until else None,
        "failures_last_hour": failures,
        "last_decision": None
        if decision is None
        else {k: decision.get(k) for k in ("at", "decision", "reason")},
    }


def settings_view(settings: MonitorSettings | None) -> dict[str, Any] | None:
    """The agent's budgets and tick; ``tick_seconds`` None: the scheduler's default."""
    if settings is None:
        return None
    tokens, tick, last = settings.pacing_tokens, settings.tick_seconds, settings.last_tick_at
    return {
        "daily_budget": str(settings.daily_budget),
        "burst_fraction": str(settings.burst_fraction),
        "max_buys_per_tick": settings.max_buys_per_tick,
        "pacing_tokens": None if tokens is None else str(tokens),
        "tick_seconds": None if tick is None else format(tick.normalize(), "f"),
        "last_tick_at": None if last is None else last.isoformat(),
    }


def settings_summary(session: Session, agent_id: uuid.UUID) -> dict[str, Any] | None:
    """The agent's settings as the panel shows them (None before it has any)."""
    return settings_view(monitoring.settings_row(session, agent_id))


def panel(
    session: Session, agent_id: uuid.UUID, now: datetime | None = None, limit: int = 10
) -> dict[str, Any]:
    """The Phase 3 panel of one agent: its APIs, settings, next plan and recent decisions."""
    now = now or datetime.now(UTC)
    rows = monitoring.list_apis(session, agent_id)
    window = max((r.ttl_seconds or 60 for r in rows), default=60) * 4
    settings = monitoring.settings_row(session, agent_id)
    stats = monitoring.access_stats(
        session, agent_id, now - timedelta(seconds=window), now - timedelta(hours=1)
    )
    recent = monitoring.decisions(session, agent_id, limit)
    latest = monitoring.latest_decisions(session, agent_id, [r.url for r in rows])
    return {
        "agent_id": str(agent_id),
        "settings": settings_view(settings),
        "apis": [api_row(r, stats, now, latest) for r in rows],
        "next_plan": settings.next_plan if settings else None,
        "decisions": recent,
    }
