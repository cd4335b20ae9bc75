"""Paid MCP tools on the premium API (``autopay mock-api --mcp``): priced with x402 through
``x402.mcp``'s payment wrapper, settled through the harness's facilitator; the agent pays a
tool call under its policy and ledger (request kind MCP), and a replayed payment is refused."""

from __future__ import annotations

import hashlib
import json
import socket
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from mcp import Client
from x402.schemas import PaymentPayload, PaymentRequirements

from tests.e2e.interop import chain_reads
from tests.e2e.mcp.conftest import AgentEnv, McpStack

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_tools_answer_unpaid_calls_with_their_x402_price(stack: McpStack) -> None:
    prices = {item["path"]: item["prices"] for item in stack.catalog()}
    async with Client(stack.mcp_url) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        unpaid = await client.call_tool("market_feed", {"symbols": "SOL"})
    assert names == {
        "market_feed",
        "arbitrage_signals",
        "knowledge_insights",
        "knowledge_sentiment",
    }
    assert unpaid.is_error
    required = unpaid.structured_content
    assert required["x402Version"] == 2 and required["resource"]["url"] == "mcp://tool/market_feed"
    by_mint = {offer["asset"]: int(offer["amount"]) for offer in required["accepts"]}
    usdc = Decimal(prices["/api/market-feed"]["USDC"])
    assert by_mint[stack.usdc_mint] == int(usdc.scaleb(6))
    assert {offer["payTo"] for offer in required["accepts"]} == {stack.pay_to}


def test_the_tools_server_sends_security_headers(stack: McpStack) -> None:
    """Every answer of the MCP tools' HTTP side, a refused one included, is locked down."""
    answer = requests.post(stack.mcp_url, json={"jsonrpc": "2.0"}, timeout=10)
    assert answer.status_code >= 400
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_agent_pays_a_tool_call_once_and_a_replay_is_refused(agent_env: AgentEnv) -> None:
    stack = agent_env.stack
    arguments = {"symbols": "SOL,ETH"}
    call = {"server": stack.mcp_url, "tool": "market_feed", "arguments": arguments}
    async with Client(agent_env.stdio()) as client:
        target = f"mcp+{stack.mcp_url}#market_feed"
        quoted = await client.call_tool("quote", {"url": target})
        assert quoted.structured_content["requires_payment"] is True
        assert quoted.structured_content["would_pay"] is False  # the host is not allowed yet
        assert "is not allowed" in quoted.structured_content["refusal"]
        refused = await client.call_tool("paid_tool", {**call, "reason": "not allowed yet"})
        assert refused.is_error and refused.structured_content["category"] == "POLICY_DENIED"
        assert "is not allowed" in refused.content[0].text  # type: ignore[union-attr]
        host = urlsplit(stack.mcp_url).netloc
        allowed = agent_env.autopay("agent", "policy", "--allow-host", host)
        assert allowed.returncode == 0, allowed.stderr
        agent_env.autopay("agent", "policy")
        requoted = await client.call_tool("quote", {"url": target, "asset": "USDC"})
        assert requoted.structured_content["would_pay"] is True, requoted.content
        paid = await client.call_tool(
            "paid_tool", {**call, "asset": "USDC", "reason": "SOL and ETH prices for a report"}
        )
    assert not paid.is_error, paid.content
    answer = paid.structured_content
    assert [p["symbol"] for p in json.loads(answer["data"])["prices"]] == ["SOL", "ETH"]
    signature = answer["payment"]["signature"]
    (row,) = agent_env.sql(
        "SELECT p.status, p.payment_hash, r.request_kind, r.tool_name, r.arguments_hash, "
        "r.endpoint, r.reason, p.signed_transaction, r.x402_instructions, p.asset_mint "
        "FROM payments p JOIN api_requests r ON r.id = p.api_request_id"
    )
    status, tx, kind, tool, args_hash, endpoint, reason, signed, instructions, mint = row
    assert (str(status), tx, str(kind), tool) == ("VERIFIED", signature, "MCP", "market_feed")
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"))
    assert args_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert endpoint == "/mcp#market_feed" and reason == "SOL and ETH prices for a report"
    price = int(Decimal(answer["payment"]["amount"]).scaleb(6))
    moved = dict(chain_reads.transfers(stack.rpc_url, signature, stack.usdc_mint))
    assert moved == {agent_env.address: -price, stack.pay_to: price}
    balance = chain_reads.token_balance(stack.rpc_url, agent_env.address, stack.usdc_mint)

    # Replay: the same signed payment sent again, as anyone who saw it on the wire could.
    accepted = next(a for a in instructions["accepts"] if a["asset"] == mint)
    replay = PaymentPayload(
        x402_version=2,
        payload={"transaction": signed},
        accepted=PaymentRequirements.model_validate(accepted),
        resource=instructions["resource"],
    ).model_dump(by_alias=True, exclude_none=True)
    async with Client(stack.mcp_url) as raw:
        again = await raw.call_tool("market_feed", arguments, meta={"x402/payment": replay})
    assert again.is_error
    refusal = again.structured_content
    assert refusal["x402Version"] == 2 and "as_of" not in json.dumps(refusal)  # no data
    assert refusal["error"] not in ("", "Payment required to access this tool"), refusal["error"]
    assert chain_reads.token_balance(stack.rpc_url, agent_env.address, stack.usdc_mint) == balance
    assert agent_env.sql("SELECT count(*) FROM payments")[0][0] == 1


async def test_a_tool_error_reaches_the_model_in_the_sellers_words(agent_env: AgentEnv) -> None:
    """An unknown tool or arguments the seller's schema refuses: nothing is paid, and the
    refusal quotes the seller's first line (not only the transport's "answered 400")."""
    stack = agent_env.stack
    allowed = agent_env.autopay("agent", "policy", "--allow-host", urlsplit(stack.mcp_url).netloc)
    assert allowed.returncode == 0, allowed.stderr
    async with Client(agent_env.stdio()) as client:
        unknown = await client.call_tool("paid_tool", {"server": stack.mcp_url, "tool": "nope"})
        quoted = await client.call_tool("quote", {"url": f"mcp+{stack.mcp_url}#nope"})
    assert unknown.is_error
    assert "answered 400: 'Unknown tool: nope'" in unknown.content[0].text  # type: ignore[union-attr]
    assert "Unknown tool: nope" in quoted.content[0].text  # type: ignore[union-attr]
    assert agent_env.sql("SELECT count(*) FROM payments")[0][0] == 0


def test_mock_api_stops_in_one_line_when_the_mcp_port_is_taken(stack: McpStack) -> None:
    """``autopay mock-api --mcp`` does not go on serving HTTP alone when /mcp cannot listen."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = stack.autopay("mock-api", "--port", "0", "--mcp", "--mcp-port", str(port), timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "READY" not in out.stdout and "Traceback" not in out.stderr, out.stdout + out.stderr
    last = out.stderr.splitlines()[-1]
    assert (
        last == f"mock-api mcp: cannot serve on 127.0.0.1:{port}: [Errno 98] Address already in use"
    )
