"""Fault knobs, facilitator trouble, idempotent retries and redelivery."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests
from solders.keypair import Keypair

from harness.testing import HarnessInfo
from mock_premium_api.testing import run_mock_api, start_process, stop_process
from tests.e2e.mock_api.mock_api_helpers import Buyer, Chain, decode_b64_json, payment_required

FEED = "/api/market-feed?symbols=ETH"
PRICE = 10_000  # default market-feed price, atomic


def _faults(api, **knobs) -> dict:
    response = requests.post(api.url + "/_mock/faults", json=knobs, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _pay(api, header: str) -> requests.Response:
    return requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)


def test_price_multiplier_changes_402_catalog_and_charge(api, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    assert _faults(api, price_multiplier=2.5)["price_multiplier"] == 2.5
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    assert {r.amount for r in required.accepts} == {str(PRICE * 5 // 2)}
    catalog = requests.get(api.url + "/api/catalog", timeout=10).json()
    feed = next(i for i in catalog["items"] if i["path"] == "/api/market-feed")
    assert feed["prices"] == {"USDC": "0.025", "CASH": "0.025"}
    with buyer.session(asset=usdc) as session:
        response = session.get(api.url + FEED, timeout=30)
    assert response.status_code == 200
    tx = decode_b64_json(response.headers["PAYMENT-RESPONSE"])["transaction"]
    assert chain.transfer_to(tx, api.pay_to)["amount"] == 25_000
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - 25_000


def test_price_change_after_quote_is_refused_with_reason(api, assets, buyer: Buyer):
    usdc, _ = assets["USDC"]
    header = buyer.pay_header(payment_required(requests.get(api.url + FEED, timeout=10)), usdc)
    _faults(api, price_multiplier=2)
    response = _pay(api, header)
    assert response.status_code == 402
    assert response.json()["error"] == "invalid_exact_svm_payload_amount_insufficient"


def test_error_after_settle_leaves_a_receipt_that_refetches_without_paying(
    api, assets, buyer: Buyer, chain: Chain
):
    usdc, program = assets["USDC"]
    _faults(api, error_rate_after_settle=1.0, seed=3)
    header = buyer.pay_header(payment_required(requests.get(api.url + FEED, timeout=10)), usdc)
    failed = _pay(api, header)
    assert failed.status_code == 500
    assert "prices" not in failed.json()
    receipt = decode_b64_json(failed.headers["PAYMENT-RESPONSE"])
    assert chain.transfer_to(receipt["transaction"], api.pay_to)["amount"] == PRICE
    requests.delete(api.url + "/_mock/faults", timeout=10)
    again = _pay(api, header)  # same payment: redelivered, not charged
    assert again.status_code == 200
    assert "prices" in again.json()
    assert decode_b64_json(again.headers["PAYMENT-RESPONSE"]) == receipt
    assert _pay(api, header).status_code == 409  # delivered once; now a replay
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE


def test_receipt_header_redeems_undelivered_data_once(api, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    _faults(api, error_rate_after_settle=1.0)
    header = buyer.pay_header(payment_required(requests.get(api.url + FEED, timeout=10)), usdc)
    tx = decode_b64_json(_pay(api, header).headers["PAYMENT-RESPONSE"])["transaction"]
    requests.delete(api.url + "/_mock/faults", timeout=10)
    redeemed = requests.get(api.url + FEED, headers={"X-PAYMENT-RECEIPT": tx}, timeout=10)
    assert redeemed.status_code == 200
    assert "prices" in redeemed.json()
    second = requests.get(api.url + FEED, headers={"X-PAYMENT-RECEIPT": tx}, timeout=10)
    assert second.status_code == 402
    assert second.json()["error"] == "receipt_not_redeemable"
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE


def test_delay_knob_slows_paid_responses(api, assets, buyer: Buyer):
    usdc, _ = assets["USDC"]
    _faults(api, delay_ms=400)
    started = time.perf_counter()
    with buyer.session(asset=usdc) as session:
        response = session.get(api.url + FEED, timeout=30)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.4
    assert requests.get(api.url + "/_mock/faults", timeout=10).json()["delay_ms"] == 400


def test_bad_fault_values_are_rejected(api):
    for knobs in ({"error_rate_after_settle": 2}, {"price_multiplier": 0}, {"nope": 1}):
        response = requests.post(api.url + "/_mock/faults", json=knobs, timeout=10)
        assert response.status_code == 400
        assert response.json()["error"]


def test_payment_identifier_retry_returns_cached_response(api, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    assert "payment-identifier" in (required.extensions or {})
    ext = {"payment-identifier": {"info": {"required": False, "id": "order_0123456789abcdef"}}}
    header = buyer.pay_header(required, usdc, extensions=ext)
    first = _pay(api, header)
    assert first.status_code == 200
    same = _pay(api, header)  # the retry resends the same payload
    assert same.status_code == 200
    assert same.content == first.content
    assert same.headers["PAYMENT-RESPONSE"] == first.headers["PAYMENT-RESPONSE"]
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE
    other = requests.get(
        api.url + "/api/knowledge/sentiment",
        headers={"PAYMENT-SIGNATURE": header},
        timeout=10,
    )
    assert other.status_code == 409
    assert other.json()["error"] == "payment_identifier_conflict"


def test_facilitator_errors_give_503_and_no_charge(api, harness: HarnessInfo, assets, buyer, chain):
    usdc, program = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    for mode in ("http_500", "reset"):
        harness.set_fault(method="facilitator.settle", mode=mode)
        response = _pay(api, buyer.pay_header(required, usdc))
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "2"
        assert response.json()["error"] == "facilitator_unavailable"
        assert "prices" not in response.json()
        harness.clear_faults()
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000


def test_a_good_payment_makes_one_facilitator_round_trip(
    api, harness: HarnessInfo, assets, buyer: Buyer, chain: Chain
):
    # /verify failing changes nothing for a good payment: /settle verifies it, alone.
    usdc, program = assets["USDC"]
    harness.set_fault(method="facilitator.verify", mode="http_500")
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    response = _pay(api, buyer.pay_header(required, usdc))
    assert response.status_code == 200, response.text
    tx = decode_b64_json(response.headers["PAYMENT-RESPONSE"])["transaction"]
    assert chain.transfer_to(tx, api.pay_to)["amount"] == PRICE
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE
    # A payment /settle refuses unsent is asked again through /verify (failing here: 503),
    # so its 402 is a refused verify's, with the classified reason (once /verify answers).
    poor = Buyer(Keypair(), harness)
    harness.fund(poor.address, usdc="0.001")
    try:
        header = poor.pay_header(required, usdc)
        response = _pay(api, header)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "facilitator_unavailable"
        harness.clear_faults()
        response = _pay(api, header)
        assert response.status_code == 402, response.text
        assert response.json()["error"] == "insufficient_funds"
        required_error = decode_b64_json(response.headers["PAYMENT-REQUIRED"])["error"]
        assert required_error == "insufficient_funds"
    finally:
        poor.close()
    assert chain.token_balance(poor.address, usdc, program) == 1000


def test_slow_facilitator_gives_503(api, harness: HarnessInfo, assets, buyer: Buyer):
    usdc, _ = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    harness.set_fault(method="facilitator.settle", mode="hang", hang_ms=4000)
    started = time.perf_counter()
    response = _pay(api, buyer.pay_header(required, usdc))
    assert response.status_code == 503
    assert "timed out" in response.json()["detail"]
    assert time.perf_counter() - started < 4


def test_unreachable_facilitator_gives_503_everywhere(harness: HarnessInfo, tmp_path):
    env = {"MOCK_API_PAY_TO": str(Keypair().pubkey()), "MOCK_API_FACILITATOR_TIMEOUT": "1"}
    with run_mock_api(
        facilitator_url="http://127.0.0.1:9",  # discard port: nothing listens
        rpc_url=harness.rpc_url,
        cash_mint=harness.cash_mint,
        env=env,
    ) as down:
        for path in (FEED, "/api/catalog"):
            response = requests.get(down.url + path, timeout=10)
            assert response.status_code == 503
            assert response.headers["Retry-After"]
            assert response.json()["error"] == "facilitator_unavailable"
        assert requests.get(down.url + "/healthz", timeout=10).json()["status"] == "ok"


def test_bad_query_is_answered_400_without_charge(api, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    url = api.url + "/api/market-feed?symbols=DOGE"
    required = payment_required(requests.get(url, timeout=10))
    response = requests.get(
        url, headers={"PAYMENT-SIGNATURE": buyer.pay_header(required, usdc)}, timeout=30
    )
    assert response.status_code == 400
    assert "DOGE" in response.json()["detail"]
    assert "PAYMENT-RESPONSE" not in response.headers
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000


def test_server_exits_when_its_parent_is_gone(harness: HarnessInfo):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = {
        **os.environ,
        "MOCK_API_PAY_TO": str(Keypair().pubkey()),
        "SOLANA_RPC_URL": harness.rpc_url,
        "X402_FACILITATOR_URL": harness.facilitator_url,
    }
    cmd = [sys.executable, "-m", "mock_premium_api", "--port", "0", "--parent-pid", str(parent.pid)]
    proc, info = start_process(cmd, env, "MOCK API READY ")
    try:
        assert requests.get(info["url"] + "/healthz", timeout=5).status_code == 200
        parent.terminate()
        parent.wait(5)
        assert proc.wait(10) == 0
    finally:
        stop_process(proc)
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
