"""PHASE2 over MCP: paid_fetch waits for a person; approved through the JSON API, a later
fetch_result returns the data and the payment. Nothing is signed before the approval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from mcp import Client

from autopay_app import create_app
from autopay_app.config import load_settings
from tests.e2e.mcp.conftest import AgentEnv
from tests.unit.web.conftest import PASSWORD, AuthActions

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
TOKEN = "phase2-test-token-0123456789-abcdefghij"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
def json_api(agent_env: AgentEnv) -> Iterator[Flask]:
    """The app (dashboard + JSON API) of the same agent: same home, keypair and ledger."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": agent_env.database_url,
            "AUTOPAY_EXTERNAL_DB": True,
            "AUTOPAY_SETTINGS": load_settings(
                {**agent_env.full_env(), "AUTOPAY_ADMIN_PASSWORD": PASSWORD}
            ),
            "AUTOPAY_API_TOKEN": TOKEN,
        }
    )
    yield app
    from autopay_app.extensions import db

    for agent in {id(a): a for a in app.extensions.get("autopay_agents", {}).values()}.values():
        agent.close()
    with app.app_context():
        db.engine.dispose()


async def test_paid_fetch_awaits_approval_then_returns_the_result(
    agent_env: AgentEnv, json_api: Flask
) -> None:
    agent_env.autopay("agent", "policy")
    (agent_id,) = agent_env.sql("SELECT id FROM agents")[0]
    web = json_api.test_client()
    switched = web.post(
        f"/api/v1/agents/{agent_id}/autonomy", json={"level": "PHASE2"}, headers=BEARER
    )
    assert switched.status_code == 200, switched.get_data(as_text=True)
    url = f"{agent_env.stack.api_url}/api/knowledge/insights?topic=SOL"
    async with Client(agent_env.stdio()) as client:
        held = await client.call_tool("paid_fetch", {"url": url, "reason": "needs a person"})
        waiting = held.structured_content
        assert not held.is_error and waiting["status"] == "AWAITING_APPROVAL"
        assert waiting["dashboard"].endswith(f"/interactive?agent_id={agent_id}")
        text = held.content[0].text  # type: ignore[union-attr]
        assert "approve" in text and waiting["request_id"] in text
        rid = waiting["request_id"]
        still = await client.call_tool("fetch_result", {"request_id": rid})
        assert still.structured_content["status"] == "AWAITING_APPROVAL"
        assert agent_env.sql("SELECT count(*) FROM payments")[0][0] == 0

        pending = web.get(f"/api/v1/approvals?agent_id={agent_id}", headers=BEARER).get_json()
        assert [item["request_id"] for item in pending["items"]] == [rid]
        assert pending["items"][0]["reason"] == "needs a person"
        AuthActions(web).login()  # the person's approval card shows why the model asked
        card = web.get(f"/interactive/approvals?agent_id={agent_id}").get_data(as_text=True)
        assert "Reason given:</strong> needs a person<" in card
        approved = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
        assert approved.status_code == 200, approved.get_data(as_text=True)

        done = await client.call_tool("fetch_result", {"request_id": rid})
    assert not done.is_error, done.content
    result = done.structured_content
    assert result["status"] == "ACCESSED" and "SOL" in result["data"]
    rows = agent_env.sql("SELECT p.status, p.payment_hash, r.reason FROM payments p "
                         "JOIN api_requests r ON r.id = p.api_request_id")  # fmt: skip
    assert [tuple(map(str, r)) for r in rows] == [
        ("VERIFIED", result["payment"]["signature"], "needs a person")
    ]
    # The request's page shows it too, to the person who reviews spending.
    page = web.get(f"/requests/{rid}").get_data(as_text=True)
    assert 'data-test="request-reason">needs a person<' in page


async def test_a_paid_tool_call_awaits_approval_too(agent_env: AgentEnv, json_api: Flask) -> None:
    stack = agent_env.stack
    agent_env.autopay("agent", "policy", "--allow-host", stack.mcp_url.split("/")[2])
    (agent_id,) = agent_env.sql("SELECT id FROM agents")[0]
    web = json_api.test_client()
    web.post(f"/api/v1/agents/{agent_id}/autonomy", json={"level": "PHASE2"}, headers=BEARER)
    call = {
        "server": stack.mcp_url,
        "tool": "arbitrage_signals",
        "arguments": {"min_spread_bps": 1},
    }
    async with Client(agent_env.stdio()) as client:
        held = await client.call_tool("paid_tool", {**call, "reason": "spreads, if approved"})
        assert held.structured_content["status"] == "AWAITING_APPROVAL", held.content
        rid = held.structured_content["request_id"]
        approved = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
        assert approved.status_code == 200, approved.get_data(as_text=True)
        done = await client.call_tool("fetch_result", {"request_id": rid})
    assert not done.is_error and done.structured_content["status"] == "ACCESSED", done.content
    (row,) = agent_env.sql(
        "SELECT p.status, r.request_kind, r.tool_name FROM payments p "
        "JOIN api_requests r ON r.id = p.api_request_id"
    )
    assert tuple(map(str, row)) == ("VERIFIED", "MCP", "arbitrage_signals")
