"""The app in-process (Flask test client), with no facilitator reachable."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from mock_premium_api import create_app

PAY_TO = str(Keypair().pubkey())


@pytest.fixture
def client():
    app = create_app(
        {"pay_to": PAY_TO, "facilitator_url": "http://127.0.0.1:9", "facilitator_timeout": 0.5}
    )
    return app.test_client()


def test_healthz_needs_no_facilitator(client):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok"
    assert data["pay_to"] == PAY_TO


@pytest.mark.parametrize(
    "path", ["/api/market-feed", "/api/market-feed/", "/api/knowledge/sentiment?asset=SOL"]
)
def test_paid_paths_answer_503_not_data_when_facilitator_is_down(client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    body = response.get_json()
    assert body["error"] == "facilitator_unavailable"
    assert "Connection refused" in body["detail"] or "connect" in body["detail"].lower()


def test_catalog_answers_503_when_facilitator_is_down(client):
    response = client.get("/api/catalog")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"


def test_oversized_headers_are_refused_before_anything_else(client):
    response = client.get("/api/market-feed", headers={"X-Big": "x" * 17_000})
    assert response.status_code == 431


def test_fault_endpoints_round_trip(client):
    assert client.post("/_mock/faults", json={"delay_ms": 5}).get_json()["delay_ms"] == 5
    assert client.get("/_mock/faults").get_json()["delay_ms"] == 5
    assert client.post("/_mock/faults", data="x").status_code == 400
    assert client.delete("/_mock/faults").get_json()["delay_ms"] == 0


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("get", "/healthz", {}),
        ("get", "/openapi.json", {}),
        ("get", "/api/catalog", {}),
        ("get", "/api/market-feed", {}),
        ("head", "/api/market-feed", {}),
        ("get", "/api/market-feed", {"X-Big": "x" * 17_000}),
        ("get", "/_mock/faults", {}),
        ("get", "/no-such-path", {}),
    ],
)
def test_every_answer_carries_security_headers(client, method, path, headers):
    response = getattr(client, method)(path, headers=headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    if "json" in response.headers.get("Content-Type", ""):
        assert "default-src 'none'" in csp


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_deeply_nested_json_is_a_400(client, body):
    response = client.post("/_mock/faults", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "expected a JSON object"
