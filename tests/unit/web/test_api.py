"""The JSON API against real PostgreSQL: filters, pagination, errors, auth, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autopay_app.models import AuditEventType, Currency, PaymentStatus
from tests.factories import make_agent, make_payment, make_request, query


def test_no_credentials_is_401_json(client, demo):
    answer = client.get("/api/v1/payments")
    assert answer.status_code == 401
    assert answer.json["error"]["status"] == 401
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_wrong_bearer_token_is_401(client, demo):
    answer = client.get("/api/v1/agents", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401


def test_agents_and_balances(client, demo, bearer):
    agents = client.get("/api/v1/agents", headers=bearer).json["items"]
    assert [a["name"] for a in agents] == ["DemoAutopayAgent"]
    one = client.get(f"/api/v1/agents/{agents[0]['id']}", headers=bearer).json
    assert one["autonomy_level"] == "PHASE1"
    card = client.get("/api/v1/balances", headers=bearer).json["items"][0]
    assert card["balance"]["USDC"] == "0.008000000"
    assert card["low_balance_assets"] == ["USDC"]
    # The statistics cover the last 24 hours: the failed request and the one at its 402.
    assert card["requests_by_status"] == {"ACCESSED": 8, "FAILED": 1, "PAYMENT_REQUIRED": 1}
    assert card["requests"] == 10 and card["retries"] == 3
    assert card["failures_by_category"] == {"SELLER_5XX": 1}
    assert card["statistics_since"] < card["balance"]["last_checked"]
    assert card["circuit_breakers"]["seller:127.0.0.1:8402"] == "CLOSED"
    assert card["circuit_breakers"]["seller:127.0.0.1:8499"] == "OPEN"  # seeded outage


def test_requests_filters(client, demo, bearer):
    def count(qs: str) -> int:
        answer = client.get(f"/api/v1/requests?{qs}", headers=bearer)
        assert answer.status_code == 200, answer.json
        return len(answer.json["items"])

    assert count("limit=200") == 14
    assert count("status=accessed") == 12
    assert count("status=FAILED") == 1
    assert count("api_type=KNOWLEDGE_DATA&status=ACCESSED") == 6
    assert count("endpoint=/api/market-feed") == 3
    since = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    # The seed spreads its 12 purchases over ~34 hours: 10 fall in the last 30.
    assert count(f"since={since.replace('+00:00', 'Z')}&status=ACCESSED") == 10


def test_request_detail_has_instructions_retries_and_classification(client, demo, bearer):
    items = client.get("/api/v1/requests?status=FAILED", headers=bearer).json["items"]
    detail = client.get(f"/api/v1/requests/{items[0]['id']}", headers=bearer).json
    assert [a["backoff_seconds"] for a in detail["retry_attempts"]] == [1.0, 2.0, 4.0]
    assert detail["error_classifications"][0]["category"] == "SELLER_5XX"
    paid = client.get("/api/v1/requests?status=ACCESSED&limit=1", headers=bearer).json["items"]
    detail = client.get(f"/api/v1/requests/{paid[0]['id']}", headers=bearer).json
    assert detail["x402_instructions"]["accepts"][0]["scheme"] == "exact"
    assert detail["data_accessed"]["sample"] == 11
    assert detail["payments"][0]["status"] == "VERIFIED"


def test_payments_keyset_pagination_visits_every_row_once(client, demo, bearer):
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/payments?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=bearer).json
        seen += [p["payment_id"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 12 and len(set(seen)) == 12
    everything = client.get("/api/v1/payments?limit=200", headers=bearer).json["items"]
    assert seen == [p["payment_id"] for p in everything]  # same order as one big page


def test_payments_filters_and_detail(client, demo, bearer):
    cash = client.get("/api/v1/payments?currency=CASH", headers=bearer).json["items"]
    assert len(cash) == 4 and {p["currency"] for p in cash} == {"CASH"}
    assert client.get("/api/v1/payments?status=FAILED", headers=bearer).json["items"] == []
    detail = client.get(f"/api/v1/payments/{cash[0]['payment_id']}", headers=bearer).json
    assert detail["transaction_logs"][0]["confirmation_status"] == "FINALIZED"
    assert detail["verification_callback"]["success"] is True
    assert [e["details"]["to"] for e in detail["status_history"]] == ["VERIFIED"]


def test_audit_events_filters(client, demo, bearer):
    def items(qs: str) -> list[dict]:
        answer = client.get(f"/api/v1/audit-events?{qs}", headers=bearer)
        assert answer.status_code == 200, answer.json
        return answer.json["items"]

    breakers = items("event_type=CIRCUIT_BREAKER")
    assert [e["details"]["state"] for e in breakers] == ["CLOSED", "HALF_OPEN", "OPEN"]
    assert len(items("event_type=CIRCUIT_BREAKER&severity=WARNING")) == 1
    assert len(items("q=facilitator")) == 1
    agent_id = breakers[0]["agent_id"]
    # 12 API_ACCESS and 12 PAYMENT_SUCCESS (the paid requests), the failure's NETWORK_ISSUE,
    # the waiting request's REQUEST_STATUS, one LOW_BALANCE and three CIRCUIT_BREAKER.
    assert len(items(f"agent_id={agent_id}&limit=200")) == 12 + 12 + 1 + 1 + 1 + 3
    kinds = {e["event_type"] for e in items(f"agent_id={agent_id}&limit=200")}
    assert "REQUEST_STATUS" in kinds and "API_ACCESS" in kinds
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert items(f"since={future.replace('+00:00', 'Z')}") == []


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/payments?agent_id=nope", "agent_id"),
        ("/api/v1/payments?status=LOST", "status"),
        ("/api/v1/payments?currency=BTC", "currency"),
        ("/api/v1/requests?limit=0", "limit"),
        ("/api/v1/requests?limit=abc", "limit"),
        ("/api/v1/requests?limit=5000", "limit"),
        ("/api/v1/requests?cursor=%%%", "cursor"),
        ("/api/v1/requests?cursor=bm90IGEgY3Vyc29y", "cursor"),
        ("/api/v1/audit-events?since=yesterday", "since"),
        ("/api/v1/audit-events?since=2025-02-01&until=2025-01-01", "since"),
        ("/api/v1/audit-events?event_type=DROP TABLE", "event_type"),
        ("/api/v1/audit-events?q=" + "x" * 500, "q"),
        ("/api/v1/requests/123", "request_id"),
        ("/api/v1/export?format=xml", "format"),
        ("/api/v1/approvals", "agent_id"),
    ],
)
def test_bad_parameters_are_400_json_naming_the_parameter(client, demo, bearer, url, parameter):
    answer = client.get(url, headers=bearer)
    assert answer.status_code == 400
    assert answer.json["error"]["message"].startswith(f"{parameter}:")


def test_unknown_ids_and_routes_are_404_json(client, demo, bearer):
    missing = "00000000-0000-0000-0000-000000000000"
    for url in (f"/api/v1/payments/{missing}", f"/api/v1/requests/{missing}", "/api/v1/nothing"):
        answer = client.get(url, headers=bearer)
        assert answer.status_code == 404 and answer.json["error"]["status"] == 404
    wrong_method = client.delete("/api/v1/payments", headers=bearer)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json


def test_openapi_document_lists_every_route(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert {"/payments", "/audit-events", "/approvals/{request_id}/approve", "/catalog"} <= set(
        doc["paths"]
    )
    params = {p["name"] for p in doc["paths"]["/audit-events"]["get"]["parameters"]}
    assert {
        "agent_id",
        "event_type",
        "severity",
        "since",
        "until",
        "q",
        "cursor",
        "limit",
    } <= params


def test_autonomy_switch_with_bearer_records_an_audit_event(client, demo, bearer, session):
    agent_id = client.get("/api/v1/agents", headers=bearer).json["items"][0]["id"]
    answer = client.post(
        f"/api/v1/agents/{agent_id}/autonomy", json={"level": "PHASE2"}, headers=bearer
    )
    assert answer.status_code == 200 and answer.json["autonomy_level"] == "PHASE2"
    rows = query(
        session,
        "SELECT details FROM audit_events WHERE event_type = 'AGENT_DECISION' AND agent_id = :a",
        a=agent_id,
    )
    assert rows[0][0] == {
        "decision": "autonomy_level_changed",
        "from": "PHASE1",
        "to": "PHASE2",
        "actor": "api:bearer",
    }
    bad = client.post(f"/api/v1/agents/{agent_id}/autonomy", json={"level": "X"}, headers=bearer)
    assert bad.status_code == 400
    not_json = client.post(f"/api/v1/agents/{agent_id}/autonomy", data="x", headers=bearer)
    assert not_json.status_code == 400 and not_json.json["error"]["message"].startswith("body:")


def test_session_api_post_needs_the_csrf_header(client, auth, demo, bearer):
    agent_id = client.get("/api/v1/agents", headers=bearer).json["items"][0]["id"]
    auth.login()
    url = f"/api/v1/agents/{agent_id}/autonomy"
    missing = client.post(url, json={"level": "PHASE3"})
    assert missing.status_code == 400 and "CSRF" in missing.json["error"]["message"]
    token = auth.csrf("/")
    ok = client.post(url, json={"level": "PHASE3"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200, ok.json
    assert ok.json["autonomy_level"] == "PHASE3"
    assert client.get("/api/v1/agents").status_code == 200  # GET needs no token


def test_catalog_unreachable_is_502_json(client, bearer):
    answer = client.get("/api/v1/catalog", headers=bearer)
    assert answer.status_code == 502
    assert "unreachable" in answer.json["error"]["message"]


def test_payment_ledger_reflects_new_rows(client, bearer, session):
    with session.begin():
        agent = make_agent(session)
        request = make_request(session, agent)
        make_payment(
            session,
            request,
            amount=Decimal("0.5"),
            currency=Currency.CASH,
            status=PaymentStatus.SIGNED,
        )
    items = client.get(f"/api/v1/payments?agent_id={agent.id}", headers=bearer).json["items"]
    assert [(p["amount"], p["payment_status"]) for p in items] == [("0.500000000", "SIGNED")]
    events = client.get(
        f"/api/v1/audit-events?agent_id={agent.id}&event_type={AuditEventType.PAYMENT_STATUS}",
        headers=bearer,
    ).json["items"]
    assert events[0]["details"]["to"] == "SIGNED"
