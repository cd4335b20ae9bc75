"""Interactive mode views: quote, approval cards, approve/decline, CSRF, bad ids.

The agent's four functions are replaced by recorders here, to test the views
alone; the browser tests drive the real agent.
"""

from __future__ import annotations

import sys
import types
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from autopay_app.errors import AutopayError
from autopay_app.extensions import db
from autopay_app.models import RequestStatus
from tests.factories import make_agent, make_request


@dataclass
class Approval:
    request_id: uuid.UUID
    agent_id: uuid.UUID
    url: str
    endpoint: str
    description: str
    amount: Decimal
    asset: str
    pay_to: str
    balance_before: Decimal | None
    balance_after: Decimal | None
    expires_at: datetime


@dataclass
class FetchResult:
    request_id: uuid.UUID
    status: str
    data: object
    payment_id: uuid.UUID | None
    payment_hash: str | None
    amount: Decimal | None
    asset: str | None
    error: str | None = None


@pytest.fixture()
def world(app, client, auth, catalog_url, monkeypatch):
    """An agent with one request waiting at its 402, the agent's functions recorded."""
    app.config["AUTOPAY_SETTINGS"] = replace(
        app.config["AUTOPAY_SETTINGS"], premium_api_url=catalog_url
    )
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            agent = make_agent(session, name="interactive-agent")
            waiting = make_request(session, agent, status=RequestStatus.PAYMENT_REQUIRED)
    try:
        from autopay_app.agent import interactive
    except ImportError:
        interactive = types.ModuleType("autopay_app.agent.interactive")
        package = sys.modules.get("autopay_app.agent") or types.ModuleType("autopay_app.agent")
        monkeypatch.setitem(sys.modules, "autopay_app.agent", package)
        monkeypatch.setitem(sys.modules, "autopay_app.agent.interactive", interactive)
        monkeypatch.setattr(package, "interactive", interactive, raising=False)
    calls: list[tuple] = []
    expires = datetime.now(UTC) + timedelta(minutes=5)
    approval = Approval(
        waiting.id, agent.id, waiting.url, waiting.endpoint, "Spot prices", Decimal("0.01"),
        "USDC", "Seller111", Decimal("1"), Decimal("0.99"), expires,
    )  # fmt: skip

    def request_quote(agent_name, url):
        calls.append(("quote", agent_name, url))
        if "bad" in url:
            raise AutopayError("the seller's 402 is malformed", category="INVALID_402")
        return waiting.id

    def approve(request_id):
        calls.append(("approve", request_id))
        return FetchResult(
            request_id, "ACCESSED", {"SOL": 1}, uuid.uuid4(), "sig", Decimal("0.01"), "USDC"
        )

    monkeypatch.setattr(interactive, "request_quote", request_quote, raising=False)
    monkeypatch.setattr(
        interactive, "pending", lambda s, a: [approval] if a == agent.id else [], raising=False
    )
    monkeypatch.setattr(interactive, "approve", approve, raising=False)
    monkeypatch.setattr(
        interactive, "decline", lambda rid: calls.append(("decline", rid)), raising=False
    )
    auth.login()
    return types.SimpleNamespace(agent=agent, waiting=waiting, calls=calls, token=auth.csrf("/"))


def test_page_shows_catalog_and_approval_card(client, world):
    page = client.get(f"/interactive?agent_id={world.agent.id}").get_data(as_text=True)
    assert 'data-path="/api/market-feed"' in page and "0.01 USDC" in page
    assert 'data-test="approval-price">0.01 USDC<' in page
    assert "1 → <strong>0.99</strong> USDC" in page and "Seller111" in page


def test_quote_calls_the_agent_with_catalog_url_and_query(client, world):
    answer = client.post(
        "/interactive/quote",
        data={
            "csrf_token": world.token,
            "agent_id": str(world.agent.id),
            "url": "http://127.0.0.1:8402/api/market-feed",
            "query": "symbols=SOL",
        },
    )
    assert answer.status_code == 302
    assert world.calls == [
        ("quote", "interactive-agent", "http://127.0.0.1:8402/api/market-feed?symbols=SOL")
    ]


def test_quote_refuses_urls_outside_the_catalog(client, world):
    data = {"csrf_token": world.token, "agent_id": str(world.agent.id), "url": "http://evil/"}
    assert client.post("/interactive/quote", data=data).status_code == 400
    assert world.calls == []


def test_quote_error_from_the_agent_is_shown(client, world, bearer):
    answer = client.post(
        "/api/v1/quotes",
        json={"agent": "interactive-agent", "url": "http://127.0.0.1:8402/api/market-feed"},
        headers=bearer,
    )
    assert answer.status_code == 201 and answer.json["request_id"] == str(world.waiting.id)


def test_approve_and_decline_with_csrf(client, world):
    rid = world.waiting.id
    assert client.post(f"/interactive/{rid}/approve").status_code == 400  # no CSRF token
    assert world.calls == []
    answer = client.post(f"/interactive/{rid}/approve", data={"csrf_token": world.token})
    assert answer.status_code == 302 and f"done={rid}" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "the data has arrived" in page and 'data-test="result"' in page
    client.post(f"/interactive/{rid}/decline", data={"csrf_token": world.token})
    assert world.calls == [("approve", rid), ("decline", rid)]


def test_api_approve_decline_and_bad_ids(client, world, bearer):
    rid = world.waiting.id
    body = client.post(f"/api/v1/approvals/{rid}/approve", headers=bearer).json
    assert body["status"] == "ACCESSED" and body["amount"] == "0.01" and body["error"] is None
    assert (
        client.post(f"/api/v1/approvals/{rid}/decline", headers=bearer).json["status"] == "DECLINED"
    )
    assert client.post("/api/v1/approvals/nope/approve", headers=bearer).status_code == 400
    missing = f"/api/v1/approvals/{uuid.uuid4()}/decline"
    assert client.post(missing, headers=bearer).status_code == 404
    assert (
        client.post(
            f"/interactive/{uuid.uuid4()}/approve", data={"csrf_token": world.token}
        ).status_code
        == 404
    )
    pending = client.get(f"/api/v1/approvals?agent_id={world.agent.id}", headers=bearer).json
    assert pending["items"][0]["amount"] == "0.01"
    assert client.post(f"/api/v1/approvals/{rid}/approve").status_code == 400  # session, no CSRF


def test_catalog_endpoint_reads_the_premium_api(client, world, bearer):
    items = client.get("/api/v1/catalog", headers=bearer).json["items"]
    assert [i["path"] for i in items] == ["/api/market-feed"]


def test_missing_agent_module_is_503_naming_it(client, world, bearer, monkeypatch):
    monkeypatch.setitem(sys.modules, "autopay_app.agent.interactive", None)
    monkeypatch.delattr(sys.modules["autopay_app.agent"], "interactive", raising=False)
    answer = client.post(f"/api/v1/approvals/{world.waiting.id}/approve", headers=bearer)
    assert answer.status_code == 503
    assert "autopay_app.agent.interactive" in answer.json["error"]["message"]
    page = client.get("/interactive").get_data(as_text=True)
    assert "interactive mode is unavailable" in page


def test_pending_approvals_are_a_polled_partial(client, world, monkeypatch):
    from autopay_app.agent import interactive

    page = client.get(f"/interactive?agent_id={world.agent.id}").get_data(as_text=True)
    partial = f"/interactive/approvals?agent_id={world.agent.id}"
    assert f'hx-get="{partial}"' in page and 'hx-trigger="every 3s"' in page
    fragment = client.get(partial).get_data(as_text=True)
    assert "<html" not in fragment and 'data-test="approval"' in fragment
    assert f'data-request="{world.waiting.id}"' in fragment and 'class="countdown"' in fragment
    assert 'name="csrf_token"' in fragment
    monkeypatch.setattr(interactive, "pending", lambda s, a: [])
    assert 'data-test="no-pending"' in client.get(partial).get_data(as_text=True)
    assert client.get("/interactive/approvals?agent_id=nope").status_code == 400
    assert client.get(f"/interactive/approvals?agent_id={uuid.uuid4()}").status_code == 404
