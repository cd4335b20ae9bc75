"""Pacing spreads a daily budget over the day; the highest-ranked API keeps its freshness."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.models import Payment
from autopay_app.scheduler.tick import tick
from tests.e2e.scheduler.conftest import Stack, config, monitor

BUDGET = Decimal("0.48")  # 0.02 an hour
RATE_PER_H = BUDGET / 24


def test_a_daily_budget_is_spread_over_the_day(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    engine: sa.Engine,
    drain: Callable[[Agent], None],
) -> None:
    agent = phase3_agent(usdc=1)
    monitor(
        agent,
        stack,
        {"/api/knowledge/sentiment": "5", "/api/market-feed": "1", "/api/knowledge/insights": "1"},
        daily_budget=str(BUDGET),
        burst_fraction="0",  # the bucket holds the dearest price: 0.02
    )
    start = datetime.now(UTC)
    spent_by_tick, bought = [], Counter()
    for quarter in range(13):  # every 15 minutes for 3 hours
        result = tick(agent, config(), now=start + timedelta(minutes=15 * quarter))
        drain(agent)  # a worker runs the tick's buys before the next tick
        spent_by_tick.append(sum((d.price for d in result.bought), Decimal(0)))
        bought.update(d.url.removeprefix(stack.api.url) for d in result.bought)

    # Not the whole budget up front: the first tick spends only the bucket (0.02).
    assert spent_by_tick[0] == Decimal("0.02")
    total = sum(spent_by_tick)
    allowed = Decimal("0.02") + RATE_PER_H * 3  # bucket + 3 hours of the daily rate
    assert allowed - Decimal("0.02") <= total <= allowed
    assert all(s <= Decimal("0.02") for s in spent_by_tick)
    with engine.connect() as conn:
        paid = conn.scalar(
            sa.select(sa.func.sum(Payment.amount)).where(Payment.agent_id == agent.agent_id)
        )
    assert paid == total
    # Short of money, the most valuable API stays fresh and the others degrade first.
    assert bought["/api/knowledge/sentiment"] >= 6
    assert bought["/api/knowledge/sentiment"] > bought["/api/market-feed"]
    assert bought["/api/knowledge/sentiment"] > bought["/api/knowledge/insights"]
