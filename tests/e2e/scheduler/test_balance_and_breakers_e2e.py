"""Balance monitor pauses and resumes buying; an open breaker leaves other sellers served."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.ledger import job_runs, monitoring
from autopay_app.models import (
    ApiRequest,
    AuditEvent,
    AuditEventType,
    ErrorClassification,
    WalletBalance,
)
from autopay_app.scheduler.core import run_recorded
from autopay_app.scheduler.tick import tick
from tests.e2e.scheduler.conftest import Stack, config, monitor


def balance_states(engine: sa.Engine, agent: Agent) -> list[str]:
    with engine.connect() as conn:
        rows = conn.scalars(
            sa.select(AuditEvent.details)
            .where(
                AuditEvent.agent_id == agent.agent_id,
                AuditEvent.event_type == AuditEventType.LOW_BALANCE,
            )
            .order_by(AuditEvent.created_at)
        ).all()
    return [r["state"] for r in rows]


def test_low_funds_pause_buying_and_a_top_up_resumes_it(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    engine: sa.Engine,
    app_for: Callable[[Agent], Any],
) -> None:
    agent = phase3_agent(usdc="0.005")  # below the 0.01 threshold
    monitor(agent, stack, {"/api/market-feed": "1", "/api/knowledge/sentiment": "2"})
    app = app_for(agent)
    outcome = run_recorded(app, "balances", config())
    assert outcome is not None and outcome["agents"][agent.name]["USDC"] == "0.005"
    assert balance_states(engine, agent) == ["PAUSED"]

    paused = tick(agent, config())
    assert paused.bought == []
    assert all(d.reason.startswith("payments paused: USDC balance") for d in paused.decisions)

    stack.harness.fund(agent.address, usdc=1, cash=1)  # the guard watches both assets
    run_recorded(app, "balances", config())
    assert balance_states(engine, agent) == ["PAUSED", "RESUMED", "TOP_UP"]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(WalletBalance).where(WalletBalance.agent_id == agent.agent_id)
        ).one()
    assert row.low_balance_event is False and row.balance_usdc == Decimal("1.005")

    resumed = tick(agent, config(), now=datetime.now(UTC) + timedelta(seconds=1))
    assert {d.url for d in resumed.bought} == {
        stack.url("/api/market-feed"),
        stack.url("/api/knowledge/sentiment"),
    }
    runs = job_runs.recent(agent.session(), "balances")
    assert [r.status for r in runs] == ["OK", "OK"]


def test_an_open_breaker_on_one_seller_leaves_the_others_served(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    engine: sa.Engine,
    drain: Callable[[Agent], None],
) -> None:
    agent = phase3_agent(usdc=1, breaker_threshold=1, breaker_cooldown=3600)
    monitor(agent, stack, {"/api/market-feed": "1", "/api/knowledge/sentiment": "1"})
    dead = "http://127.0.0.1:9/api/market-feed"  # the discard port: connection refused
    monitoring.upsert_api(
        agent.session(),
        agent.agent_id,
        dead,
        weight=Decimal(10),
        price=Decimal("0.01"),
        ttl_seconds=30,
    )
    first = tick(agent, config())
    actions = {d.url: d.action for d in first.decisions}
    assert actions[dead] == actions[stack.url("/api/market-feed")] == "BUY"
    drain(agent)  # the dead seller's fetch fails and opens its breaker

    later = tick(agent, config(), now=datetime.now(UTC) + timedelta(seconds=90))
    by_url = {d.url: d for d in later.decisions}
    assert by_url[dead].action == "SKIP"
    assert by_url[dead].reason.startswith("circuit breaker seller:127.0.0.1:9 is OPEN")
    assert {d.url for d in later.bought} == {
        stack.url("/api/market-feed"),
        stack.url("/api/knowledge/sentiment"),
    }
    with engine.connect() as conn:
        failed = conn.execute(
            sa.select(ApiRequest.url, ErrorClassification.category)
            .join(ErrorClassification, ErrorClassification.api_request_id == ApiRequest.id)
            .where(ApiRequest.agent_id == agent.agent_id)
        ).all()
    assert len(failed) == 1 and failed[0].url == dead and failed[0].category
