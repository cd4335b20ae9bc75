"""After every payment the agent's balance row follows the chain (what the dashboard shows)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent
from tests.e2e.agent.conftest import Stack
from tests.e2e.agent.ledger_checks import balances, rows

pytestmark = pytest.mark.e2e
FEED = "/api/market-feed"


def _row(engine: sa.Engine, agent: Agent) -> dict[str, Decimal]:
    ((usdc, cash),) = rows(
        engine,
        "SELECT balance_usdc, balance_cash FROM wallet_balances WHERE agent_id = :a",
        a=agent.agent_id,
    )
    return {"USDC": Decimal(usdc), "CASH": Decimal(cash)}


def test_the_row_follows_each_payment_and_concurrent_ones(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=2, cash=2)
    assert agent.fetch(stack.url(FEED), asset="USDC").status == "ACCESSED"
    assert agent.wait_refreshed()
    assert _row(engine, agent) == balances(agent)  # within the guard's 10 s trust window

    urls = [stack.url(FEED + f"?symbols=SOL&n={i}") for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda u: agent.fetch(u, asset="CASH"), urls))
    assert [r.status for r in results] == ["ACCESSED"] * 8
    assert agent.wait_refreshed()
    assert _row(engine, agent) == balances(agent)
    assert balances(agent)["CASH"] == Decimal(2) - 8 * Decimal("0.01")
