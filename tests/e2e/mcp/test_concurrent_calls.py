"""Concurrent paid_fetch calls through one ``autopay mcp`` never exceed the agent's caps:
the MCP server pays through the agent's pipeline (spend lock, write-ahead), no other way."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest
from mcp import Client

from tests.e2e.mcp.conftest import AgentEnv

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
CALLS = 8
AFFORDABLE = 3


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_concurrent_paid_fetches_stay_within_the_hourly_cap(agent_env: AgentEnv) -> None:
    base = f"{agent_env.stack.api_url}/api/market-feed?symbols=SOL"
    agent_env.autopay("agent", "policy")
    answers: list = []
    async with Client(agent_env.stdio()) as client:
        quoted = await client.call_tool("quote", {"url": base, "asset": "USDC"})
        price = Decimal(quoted.structured_content["amount"])
        agent_env.set_policy(hourly_cap=price * AFFORDABLE, allowed_assets=["USDC"])

        async def buy(i: int) -> None:
            url = f"{base}&call={i}"
            answers.append(await client.call_tool("paid_fetch", {"url": url, "reason": f"#{i}"}))

        async with anyio.create_task_group() as group:
            for i in range(CALLS):
                group.start_soon(buy, i)
        spent = await client.call_tool("spending", {"window": "hour"})
    bought = [a for a in answers if not a.is_error]
    refused = [a for a in answers if a.is_error]
    assert len(bought) == AFFORDABLE, [a.content[0].text for a in answers]
    assert all(a.structured_content["category"] == "POLICY_DENIED" for a in refused)
    assert all("hourly cap" in a.content[0].text for a in refused)
    total, count = agent_env.sql(
        "SELECT coalesce(sum(amount), 0), count(*) FROM payments WHERE status = 'VERIFIED'"
    )[0]
    assert count == AFFORDABLE and Decimal(total) == price * AFFORDABLE
    assert agent_env.sql("SELECT count(*) FROM payments WHERE status <> 'VERIFIED'")[0][0] == 0
    assert Decimal(spent.structured_content["remaining"]) == 0
    overlapping = agent_env.sql(
        "SELECT count(*) FROM api_requests a JOIN api_requests b ON a.id <> b.id "
        "AND b.created_at > a.created_at AND b.created_at < a.updated_at"
    )[0][0]
    assert overlapping > 0  # the calls really ran at the same time
