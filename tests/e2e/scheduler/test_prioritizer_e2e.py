"""The prioritizer against the real harness and mock API: buys by score, explains skips."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.ledger.decisions import expand
from autopay_app.models import ApiRequest, AuditEvent, AuditEventType, Payment
from autopay_app.scheduler.tick import tick
from autopay_app.web import phase3_panel
from tests.e2e.scheduler.conftest import Stack, config, monitor

WEIGHTS = {
    "/api/market-feed": "1",  # 0.01, ttl 15  -> score 1*4/0.01 = 400
    "/api/arbitrage-signals": "6",  # 0.05, ttl 5 -> 6*4/0.05 = 480
    "/api/knowledge/insights": "1",  # 0.02, ttl 300 -> 1*4/0.02 = 200
    "/api/knowledge/sentiment": "3",  # 0.01, ttl 60 -> 3*4/0.01 = 1200
}


def decision_events(engine: sa.Engine, agent: Agent) -> list[dict]:
    """One dict per API decided: a BUY's event, or its part of its tick's SKIPs event."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEvent.details, AuditEvent.related_id)
            .where(
                AuditEvent.agent_id == agent.agent_id,
                AuditEvent.event_type == AuditEventType.AGENT_DECISION,
            )
            .order_by(AuditEvent.created_at)
        ).all()
    return [
        d | {"related_id": r if d is details else None}
        for details, r in rows
        for d in expand(details)
    ]


def test_budget_that_cannot_buy_everything_buys_by_score_and_explains_the_rest(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    engine: sa.Engine,
    drain: Callable[[Agent], None],
) -> None:
    agent = phase3_agent(usdc=1)
    # The bucket holds 0.07: sentiment (0.01) and arbitrage (0.05) fit; then market-feed
    # (0.01) fits too; insights (0.02) does not (0.07 - 0.07 = 0).
    monitor(agent, stack, WEIGHTS, daily_budget="1.4", burst_fraction="0.05")
    now = datetime.now(UTC)
    result = tick(agent, config(), now=now)
    drain(agent)  # a worker runs the queued buys

    bought = [d.url.removeprefix(stack.api.url) for d in result.bought]
    assert bought == ["/api/knowledge/sentiment", "/api/arbitrage-signals", "/api/market-feed"]
    events = {e["api"].removeprefix(stack.api.url): e for e in decision_events(engine, agent)}
    assert set(events) == set(WEIGHTS)
    # one tick: its time in ms, a number (the full-text index over details skips numbers)
    assert {e["tick"] for e in events.values()} == {int(now.timestamp() * 1000)}
    with engine.connect() as conn:
        indexed = conn.scalar(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE agent_id = :a "
                "AND to_tsvector('simple', details) @@ plainto_tsquery('simple', :tick)"
            ),
            {"a": agent.agent_id, "tick": str(int(now.timestamp() * 1000))},
        )
    assert indexed == 0
    for path in bought:
        assert events[path]["decision"] == "BOUGHT"
        assert events[path]["job_id"] is not None
        assert events[path]["related_id"] is not None
        assert request_status(engine, events[path]["related_id"]) == "ACCESSED"
        assert events[path]["scores"]["score"] > 0
    skipped = events["/api/knowledge/insights"]
    assert skipped["decision"] == "SKIPPED"
    assert skipped["reason"].startswith("pacing:")
    assert skipped["scores"]["score"] == 200.0
    assert [events[p]["rank"] for p in bought] == [1, 2, 3]
    with engine.connect() as conn:
        paid = conn.scalar(
            sa.select(sa.func.sum(Payment.amount)).where(Payment.agent_id == agent.agent_id)
        )
    assert paid == sum(d.price for d in result.bought)


def request_status(engine: sa.Engine, request_id: object) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(sa.select(ApiRequest.status).where(ApiRequest.id == request_id)))


def test_fresh_data_is_not_bought_again(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    engine: sa.Engine,
    drain: Callable[[Agent], None],
) -> None:
    agent = phase3_agent(usdc=1)
    monitor(agent, stack, {"/api/knowledge/insights": "1", "/api/market-feed": "1"})
    first = tick(agent, config())
    assert len(first.bought) == 2
    drain(agent)
    again = tick(agent, config(), now=datetime.now(UTC) + timedelta(seconds=20))
    reasons = {d.url.removeprefix(stack.api.url): d.reason for d in again.decisions}
    # market-feed (ttl 15 s) went stale in 20 s; insights (ttl 300 s) is still fresh.
    assert [d.url for d in again.bought] == [stack.url("/api/market-feed")]
    assert reasons["/api/knowledge/insights"].startswith("fresh:")
    with engine.connect() as conn:
        accessed = conn.scalar(
            sa.select(sa.func.count())
            .select_from(ApiRequest)
            .where(ApiRequest.agent_id == agent.agent_id, ApiRequest.endpoint.like("%insights"))
        )
    assert accessed == 1
    plan = phase3_panel.panel(agent.session(), agent.agent_id)["next_plan"]
    assert plan is not None and plan["api"] == stack.url("/api/market-feed")
