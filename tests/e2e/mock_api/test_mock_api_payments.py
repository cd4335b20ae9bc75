"""Paying the mock API with the x402 SDK's clients, checked on chain."""

from __future__ import annotations

import pytest
import requests
from x402 import x402ClientSync
from x402.http.utils import encode_payment_signature_header
from x402.mechanisms.svm import KeypairSigner
from x402.mechanisms.svm.exact.v1.client import ExactSvmSchemeV1
from x402.schemas.v1 import PaymentRequiredV1

from tests.e2e.mock_api.mock_api_helpers import (
    Buyer,
    Chain,
    atomic,
    decode_b64_json,
    payment_required,
)

PAID = {
    "/api/market-feed?symbols=SOL,BTC,ETH": "prices",
    "/api/arbitrage-signals": "signals",
    "/api/knowledge/insights?topic=market": "insights",
    "/api/knowledge/sentiment?asset=SOL": "score",
}


@pytest.mark.parametrize("symbol", ["USDC", "CASH"])
def test_sdk_client_pays_every_catalog_endpoint(api, assets, buyer: Buyer, chain: Chain, symbol):
    mint, program = assets[symbol]
    catalog = requests.get(api.url + "/api/catalog", timeout=10).json()
    seller_before = chain.token_balance(api.pay_to, mint, program)
    paid_total = 0
    with buyer.session(asset=mint) as session:
        paid_total = _pay_all(api, catalog, session, buyer, chain, mint, symbol)
    assert chain.token_balance(api.pay_to, mint, program) - seller_before == paid_total
    assert chain.token_balance(buyer.address, mint, program) == atomic("5") - paid_total


def _pay_all(api, catalog, session, buyer, chain, mint, symbol) -> int:
    paid_total = 0
    for item in catalog["items"]:
        query = next(q for q in PAID if q.split("?")[0] == item["path"])
        response = session.get(api.url + query, timeout=30)
        assert response.status_code == 200, response.text
        data = response.json()
        assert PAID[query] in data
        assert data["ttl_seconds"] == item["ttl_seconds"]
        assert data["as_of"].endswith("+00:00")
        receipt = decode_b64_json(response.headers["PAYMENT-RESPONSE"])
        assert receipt["success"] is True
        assert receipt["payer"] == buyer.address
        moved = chain.transfer_to(receipt["transaction"], api.pay_to)
        assert moved == {
            "mint": mint,
            "amount": atomic(item["prices"][symbol]),
            "owner": api.pay_to,
        }
        paid_total += moved["amount"]
    return paid_total


def test_v1_client_pays_with_x_payment(api, assets, buyer: Buyer, chain: Chain):
    url = api.url + "/api/knowledge/sentiment?asset=ETH"
    unpaid = requests.get(url, timeout=10)
    body = unpaid.json()
    assert body["x402Version"] == 1
    assert {a["network"] for a in body["accepts"]} == {"solana-devnet"}
    required_v1 = PaymentRequiredV1.model_validate(body)
    client = x402ClientSync()
    scheme = ExactSvmSchemeV1(KeypairSigner(buyer.keypair), buyer.harness.rpc_url)
    client.register_v1("solana-devnet", buyer.track(scheme))
    usdc, _ = assets["USDC"]
    client.register_policy(lambda _v, reqs: [r for r in reqs if r.asset == usdc])
    payload = client.create_payment_payload(required_v1)
    assert payload.x402_version == 1
    paid = requests.get(url, headers={"X-PAYMENT": encode_payment_signature_header(payload)})
    assert paid.status_code == 200, paid.text
    assert paid.json()["asset"] == "ETH"
    assert "PAYMENT-RESPONSE" not in paid.headers
    receipt = decode_b64_json(paid.headers["X-PAYMENT-RESPONSE"])
    assert receipt["network"] == "solana-devnet"
    moved = chain.transfer_to(receipt["transaction"], api.pay_to)
    assert moved["mint"] == usdc
    assert moved["amount"] == int(required_v1.accepts[0].max_amount_required)


def test_catalog_matches_what_each_402_demands(api):
    catalog = requests.get(api.url + "/api/catalog", timeout=10).json()
    assert catalog["x402Version"] == 2
    assert {i["category"] for i in catalog["items"]} == {"MARKET_DATA", "KNOWLEDGE_DATA"}
    for item in catalog["items"]:
        assert item["resource"] == api.url + item["path"]
        required = payment_required(requests.get(item["resource"], timeout=10))
        demanded = [r.model_dump(by_alias=True, exclude_none=True) for r in required.accepts]
        assert demanded == item["accepts"]
        by_symbol = {a["extra"]["symbol"]: a for a in item["accepts"]}
        for symbol, price in item["prices"].items():
            assert int(by_symbol[symbol]["amount"]) == atomic(price)
            assert by_symbol[symbol]["payTo"] == api.pay_to
            assert by_symbol[symbol]["extra"]["feePayer"]


def test_browser_gets_the_sdk_paywall(api):
    response = requests.get(
        api.url + "/api/market-feed",
        headers={"Accept": "text/html", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"},
        timeout=10,
    )
    assert response.status_code == 402
    assert response.headers["Content-Type"].startswith("text/html")
    assert "window.x402" in response.text
    assert response.headers["PAYMENT-REQUIRED"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_an_unpaid_402_is_restated_once_then_reused(harness, monkeypatch):
    from solders.keypair import Keypair

    from mock_premium_api import create_app, gate

    calls: list[str] = []
    original = gate.payment_required_with_error

    def counting(header: str, error: str):
        calls.append(error)
        return original(header, error)

    monkeypatch.setattr(gate, "payment_required_with_error", counting)
    settings = {
        "pay_to": str(Keypair().pubkey()),
        "facilitator_url": harness.facilitator_url,
        "rpc_url": harness.rpc_url,
        "cash_mint": harness.cash_mint,
    }
    app = create_app(settings)
    client = app.test_client()
    first = client.get("/api/market-feed?symbols=SOL")
    assert first.status_code == 402, first.get_data(as_text=True)
    assert first.get_json()["accepts"]
    again = client.get("/api/market-feed?symbols=SOL")
    assert again.get_data() == first.get_data()
    assert again.headers["PAYMENT-REQUIRED"] == first.headers["PAYMENT-REQUIRED"]
    assert calls == [""]
    assert client.get("/api/market-feed?symbols=ETH").status_code == 402
    assert calls == ["", ""]
    app.extensions["mock_api"].seller.close()
