"""Interactive mode views: quote, approval cards, approve/decline, CSRF, bad ids.

The app's agent is replaced by a recorder here (the approvals waiting are real
ledger rows), to test the views alone; the browser tests drive the real agent.
"""

from __future__ import annotations

import sys
import types
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from autopay_app.agent import runtime
from autopay_app.agent.result import FetchResult
from autopay_app.errors import AutopayError
from autopay_app.extensions import db
from autopay_app.ledger import approvals
from autopay_app.models import PaymentApproval, RequestStatus, WalletBalance
from tests.factories import make_agent, make_request


class RecordingAgent:
    """Stands in for the app's agent: records what the views ask of it."""

    def __init__(self, waiting_id: uuid.UUID) -> None:
        self.waiting_id = waiting_id
        self.calls: list[tuple] = []

    def quote(self, url: str) -> uuid.UUID:
        self.calls.append(("quote", url))
        if "bad" in url:
            raise AutopayError("the seller's 402 is malformed", category="INVALID_402")
        return self.waiting_id

    def approve(self, request_id: uuid.UUID) -> FetchResult:
        self.calls.append(("approve", request_id))
        return FetchResult(
            request_id, "ACCESSED", {"SOL": 1}, uuid.uuid4(), "sig", Decimal("0.01"), "USDC"
        )

    def decline(self, request_id: uuid.UUID) -> None:
        self.calls.append(("decline", request_id))


@pytest.fixture()
def world(app, client, auth, catalog_url, monkeypatch):
    """An agent with one request waiting for approval at its 402; the agent recorded."""
    app.config["AUTOPAY_SETTINGS"] = replace(
        app.config["AUTOPAY_SETTINGS"], premium_api_url=catalog_url
    )
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            agent = make_agent(session, name="interactive-agent")
            waiting = make_request(session, agent, status=RequestStatus.PAYMENT_REQUIRED)
            session.add_all(
                [
                    PaymentApproval(
                        api_request_id=waiting.id,
                        agent_id=agent.id,
                        offer_index=0,
                        amount=Decimal("0.01"),
                        currency="USDC",
                        pay_to="Seller111",
                        description="Spot prices",
                        expires_at=datetime.now(UTC) + timedelta(minutes=5),
                    ),
                    WalletBalance(
                        agent_id=agent.id,
                        wallet_address=agent.wallet_address,
                        balance_sol=Decimal(1),
                        balance_usdc=Decimal(1),
                        balance_cash=Decimal(0),
                        threshold=Decimal("0.01"),
                        last_checked=datetime.now(UTC),
                    ),
                ]
            )
    recorder = RecordingAgent(waiting.id)
    named: list[str | None] = []

    def agent_for(name: str | None) -> RecordingAgent:
        named.append(name)
        return recorder

    monkeypatch.setattr(runtime, "agent_for", agent_for)
    monkeypatch.setattr(runtime, "agent_for_request", lambda rid: recorder)
    auth.login()
    return types.SimpleNamespace(
        agent=agent, waiting=waiting, calls=recorder.calls, named=named, token=auth.csrf("/")
    )


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
    assert world.calls == [("quote", "http://127.0.0.1:8402/api/market-feed?symbols=SOL")]
    assert world.named == ["interactive-agent"]


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
    assert Decimal(pending["items"][0]["amount"]) == Decimal("0.01")
    assert client.post(f"/api/v1/approvals/{rid}/approve").status_code == 400  # session, no CSRF


def test_catalog_endpoint_reads_the_premium_api(client, world, bearer):
    items = client.get("/api/v1/catalog", headers=bearer).json["items"]
    assert [i["path"] for i in items] == ["/api/market-feed"]


def test_missing_agent_module_is_503_naming_it(client, world, bearer, monkeypatch):
    monkeypatch.setitem(sys.modules, "autopay_app.agent.runtime", None)
    monkeypatch.delattr(sys.modules["autopay_app.agent"], "runtime", raising=False)
    answer = client.post(f"/api/v1/approvals/{world.waiting.id}/approve", headers=bearer)
    assert answer.status_code == 503
    assert "autopay_app.agent.runtime" in answer.json["error"]["message"]
    page = client.get("/interactive").get_data(as_text=True)
    assert "interactive mode is unavailable" in page


def test_pending_approvals_are_a_polled_partial(client, world, monkeypatch):
    page = client.get(f"/interactive?agent_id={world.agent.id}").get_data(as_text=True)
    partial = f"/interactive/approvals?agent_id={world.agent.id}"
    assert f'hx-get="{partial}"' in page and 'hx-trigger="every 3s"' in page
    fragment = client.get(partial).get_data(as_text=True)
    assert "<html" not in fragment and 'data-test="approval"' in fragment
    assert f'data-request="{world.waiting.id}"' in fragment and 'class="countdown"' in fragment
    assert 'name="csrf_token"' in fragment
    monkeypatch.setattr(approvals, "pending", lambda s, a: [])
    assert 'data-test="no-pending"' in client.get(partial).get_data(as_text=True)
    assert client.get("/interactive/approvals?agent_id=nope").status_code == 400
    assert client.get(f"/interactive/approvals?agent_id={uuid.uuid4()}").status_code == 404
