"""``autopay mcp`` over stdio, started by the official MCP client as a client's configuration
would start it: its tools and schemas, a paid fetch, a refusal over the cap, reads."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from tests.e2e.mcp.conftest import AgentEnv, McpStack

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TOOLS = {
    "paid_fetch",
    "paid_tool",
    "fetch_result",
    "quote",
    "balances",
    "spending",
    "recent_payments",
    "catalog",
}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_tools_are_listed_with_schemas_a_model_can_use(agent_env: AgentEnv) -> None:
    async with Client(agent_env.stdio()) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        policy = await client.read_resource("autopay://policy")
    assert set(listed) == TOOLS
    fetch = listed["paid_fetch"].input_schema
    assert fetch["required"] == ["url"]
    assert set(fetch["properties"]) == {"url", "max_amount", "asset", "reason"}
    assert "person" in fetch["properties"]["reason"]["description"]
    assert "awaiting approval" in (listed["paid_fetch"].description or "")
    assert listed["paid_fetch"].annotations.read_only_hint is False
    assert listed["quote"].annotations.read_only_hint is True
    assert set(listed["paid_tool"].input_schema["required"]) == {"server", "tool"}
    assert resources == {"autopay://policy", "autopay://catalog"}
    shown = json.loads(policy.contents[0].text)  # type: ignore[union-attr]
    assert shown["address"] == agent_env.address and shown["per_request_cap"] == "0.100000"


async def test_paid_fetch_pays_once_and_records_the_reason(agent_env: AgentEnv) -> None:
    url = f"{agent_env.stack.api_url}/api/market-feed?symbols=SOL"
    why = "The user asked for the SOL price to rebalance a portfolio."
    async with Client(agent_env.stdio()) as client:
        quoted = await client.call_tool("quote", {"url": url})
        paid = await client.call_tool("paid_fetch", {"url": url, "reason": why, "asset": "USDC"})
        recent = await client.call_tool("recent_payments", {"limit": 5})
        spent = await client.call_tool("spending", {"window": "hour"})
    assert not quoted.is_error and quoted.structured_content["would_pay"] is True
    price = quoted.structured_content["amount"]
    assert not paid.is_error, paid.content
    answer = paid.structured_content
    assert answer["status"] == "ACCESSED"
    assert json.loads(answer["data"])["prices"][0]["symbol"] == "SOL"
    assert answer["payment"]["asset"] == "USDC" and answer["payment"]["amount"] == price
    signature = answer["payment"]["signature"]
    assert signature and signature in answer["payment"]["explorer"]
    rows = agent_env.sql(
        "SELECT p.status, p.payment_hash, r.reason, r.request_kind, r.status "
        "FROM payments p JOIN api_requests r ON r.id = p.api_request_id"
    )
    assert [tuple(map(str, row)) for row in rows] == [
        ("VERIFIED", signature, why, "HTTP", "ACCESSED")
    ]
    assert recent.structured_content["payments"][0]["reason"] == why
    assert Decimal(spent.structured_content["spent"]) == Decimal(price)


async def test_refusal_over_the_cap_pays_nothing_and_says_why(agent_env: AgentEnv) -> None:
    url = f"{agent_env.stack.api_url}/api/market-feed?symbols=ETH"
    agent_env.autopay("agent", "policy")  # creates the agent and its policy, as a user would
    agent_env.set_policy(per_request_cap=Decimal("0.000001"))
    async with Client(agent_env.stdio()) as client:
        quoted = await client.call_tool("quote", {"url": url})
        refused = await client.call_tool("paid_fetch", {"url": url, "reason": "test"})
    assert quoted.structured_content["would_pay"] is False
    assert refused.is_error
    text = refused.content[0].text  # type: ignore[union-attr]
    assert "POLICY_DENIED" in text and "per-request cap" in text and "person" in text
    assert refused.structured_content["category"] == "POLICY_DENIED"
    assert agent_env.sql("SELECT count(*) FROM payments")[0][0] == 0
    (row,) = agent_env.sql("SELECT status, reason FROM api_requests")
    assert tuple(map(str, row)) == ("FAILED", "test")


async def test_bad_input_is_a_clear_refusal(agent_env: AgentEnv) -> None:
    async with Client(agent_env.stdio()) as client:
        bad_url = await client.call_tool("paid_fetch", {"url": "ftp://example.com/x"})
        bad_amount = await client.call_tool(
            "paid_fetch", {"url": f"{agent_env.stack.api_url}/api/market-feed", "max_amount": "-1"}
        )
        bad_id = await client.call_tool("fetch_result", {"request_id": "nope"})
        bad_window = await client.call_tool("spending", {"window": "year"})
        bad_limit = await client.call_tool("recent_payments", {"limit": -3})
    for answer in (bad_url, bad_amount, bad_id, bad_window, bad_limit):
        assert answer.is_error
        assert "Traceback" not in answer.content[0].text  # type: ignore[union-attr]
        assert len(answer.content[0].text.splitlines()) == 1  # type: ignore[union-attr]
    assert bad_window.content[0].text == (  # type: ignore[union-attr]
        "spending: window: Input should be 'hour' or 'day'"
    )
    assert bad_limit.content[0].text == (  # type: ignore[union-attr]
        "recent_payments: limit: Input should be greater than or equal to 1"
    )
    assert "http(s)" in bad_url.content[0].text  # type: ignore[union-attr]
    assert "above zero" in bad_amount.content[0].text  # type: ignore[union-attr]
    assert agent_env.sql("SELECT count(*) FROM payments")[0][0] == 0


async def test_low_balance_and_a_failing_seller_are_refusals_a_model_can_act_on(
    stack: McpStack, database_url: str, tmp_path: Path
) -> None:
    unfunded = AgentEnv(
        stack,
        {
            "DATABASE_URL": database_url,
            "AUTOPAY_HOME": str(tmp_path / "empty-home"),
            "AUTOPAY_RETRY_BASE_S": "0.05",
        },
        database_url,
        "",
    )
    url = f"{stack.api_url}/api/market-feed?symbols=BTC"
    async with Client(unfunded.stdio()) as client:
        low = await client.call_tool("paid_fetch", {"url": url, "reason": "no money"})
        down = await client.call_tool("paid_fetch", {"url": "http://127.0.0.1:9/api/x"})
    (address,) = unfunded.sql("SELECT wallet_address FROM agents")[0]
    text = low.content[0].text  # type: ignore[union-attr]
    assert low.is_error and low.structured_content["category"] == "INSUFFICIENT_FUNDS"
    assert address in text and "top up" in text
    assert down.is_error and down.structured_content["category"] == "NETWORK"
    assert "unreachable" in down.content[0].text  # type: ignore[union-attr]
    assert unfunded.sql("SELECT count(*) FROM payments")[0][0] == 0
