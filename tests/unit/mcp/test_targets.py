"""Paid MCP tool calls as URLs, and a tool's answer as a seller's answer."""

from __future__ import annotations

import base64
import json

import pytest
from mcp_types import CallToolResult, TextContent

from autopay_app.agent import mcp_seller, mcp_target
from autopay_app.agent.errors import PolicyDenied
from autopay_app.agent.gateway import parse_payment_required, parse_settlement
from autopay_app.agent.states import FetchRequest

SERVER = "http://127.0.0.1:8404/mcp"


def test_a_tool_url_round_trips_with_canonical_arguments() -> None:
    url = mcp_target.tool_url(SERVER, "market_feed", {"symbols": "SOL,ETH", "a": [1, 2]})
    assert url.startswith("mcp+http://127.0.0.1:8404/mcp#market_feed?args=")
    target = mcp_target.parse(url)
    assert target.endpoint == SERVER and target.tool == "market_feed"
    assert target.arguments == {"symbols": "SOL,ETH", "a": [1, 2]}
    assert target.canonical_arguments == '{"a":[1,2],"symbols":"SOL,ETH"}'
    same = mcp_target.parse(
        mcp_target.tool_url(SERVER, "market_feed", {"a": [1, 2], "symbols": "SOL,ETH"})
    )
    assert same.arguments_hash == target.arguments_hash and len(target.arguments_hash) == 64
    request = FetchRequest(url)
    assert request.host == "127.0.0.1:8404" and request.endpoint == "/mcp#market_feed"


@pytest.mark.parametrize(
    "url",
    [
        "mcp+http://127.0.0.1:8404/mcp",  # no tool
        "mcp+http://127.0.0.1:8404/mcp#",  # no tool
        "mcp+http://127.0.0.1:8404/mcp#bad tool",  # not a tool name
        "mcp+http://127.0.0.1:8404/mcp#t?args=[1]",  # arguments not an object
        "mcp+http://127.0.0.1:8404/mcp#t?args={nope",  # not JSON
        "mcp+http:///mcp#t",  # no host
        "http://127.0.0.1:8404/mcp#t",  # not an MCP URL
    ],
)
def test_a_bad_tool_url_is_a_policy_refusal(url: str) -> None:
    with pytest.raises(PolicyDenied):
        mcp_target.parse(url)


def test_a_payment_required_result_is_a_402_the_gateway_parses() -> None:
    document = {
        "x402Version": 2,
        "error": "Payment required to access this tool",
        "resource": {"url": "mcp://tool/market_feed"},
        "accepts": [
            {
                "scheme": "exact",
                "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
                "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
                "amount": "10000",
                "payTo": "9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo",
                "maxTimeoutSeconds": 300,
                "extra": {"feePayer": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"},
            }
        ],
    }
    result = CallToolResult(
        content=[TextContent(text=json.dumps(document))], structured_content=document, is_error=True
    )
    answer = mcp_seller._answer(result, 5)
    assert answer.status == 402
    info = parse_payment_required(answer.headers, answer.body)
    assert info.offers[0].amount_atomic == 10000


def test_a_paid_result_carries_its_receipt_as_the_payment_response() -> None:
    receipt = {"success": True, "transaction": "5" * 88, "network": "solana:x", "payer": "p"}
    result = CallToolResult.model_validate(
        {
            "content": [{"type": "text", "text": "{}"}],
            "structuredContent": {"price": 1},
            "_meta": {"x402/payment-response": receipt},
        }
    )
    answer = mcp_seller._answer(result, 5)
    assert answer.status == 200 and json.loads(answer.body) == {"price": 1}
    assert parse_settlement(answer.headers)["transaction"] == "5" * 88  # type: ignore[index]


def test_the_payment_header_becomes_the_x402_meta() -> None:
    payload = {"x402Version": 2, "payload": {"transaction": "AAAA"}}
    header = base64.b64encode(json.dumps(payload).encode()).decode()
    assert mcp_seller._payment_meta({"PAYMENT-SIGNATURE": header}) == {"x402/payment": payload}
    assert mcp_seller._payment_meta({}) is None
