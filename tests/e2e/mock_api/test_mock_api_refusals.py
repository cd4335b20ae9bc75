"""Payments the seller must refuse, and replays it must not serve twice."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from solders.keypair import Keypair

from tests.e2e.mock_api.mock_api_helpers import (
    Buyer,
    Chain,
    decode_b64_json,
    payment_required,
)

FEED = "/api/market-feed?symbols=SOL"


def _required(api):
    return payment_required(requests.get(api.url + FEED, timeout=10))


def _assert_refused(response: requests.Response, reason: str) -> None:
    assert response.status_code == 402, response.text
    body = response.json()
    assert body["error"] == reason
    assert "prices" not in body
    assert "PAYMENT-RESPONSE" not in response.headers
    assert decode_b64_json(response.headers["PAYMENT-REQUIRED"])["error"] == reason


def _amount(delta: int):
    def tamper(req):
        req.amount = str(int(req.amount) + delta)
        return req

    return tamper


def _other_mint(cash_mint: str):
    def tamper(req):
        req.asset = cash_mint
        return req

    return tamper


def _other_recipient(req):
    req.pay_to = str(Keypair().pubkey())
    return req


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("underpay", "invalid_exact_svm_payload_amount_insufficient"),
        ("overpay", "invalid_exact_svm_payload_amount_exceeds_required"),
        ("wrong_mint", "invalid_exact_svm_payload_mint_mismatch"),
        ("wrong_recipient", "invalid_exact_svm_payload_recipient_mismatch"),
    ],
)
def test_transaction_that_differs_from_the_offer_is_refused(
    api, assets, buyer: Buyer, chain: Chain, case, reason
):
    """The buyer claims the real offer but signs something else: caught on the tx."""
    usdc, program = assets["USDC"]
    tamper = {
        "underpay": _amount(-1),
        "overpay": _amount(+1),
        "wrong_mint": _other_mint(assets["CASH"][0]),
        "wrong_recipient": _other_recipient,
    }[case]
    header = buyer.pay_header(_required(api), usdc, tamper=tamper)
    before = chain.token_balance(api.pay_to, usdc, program)
    response = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    _assert_refused(response, reason)
    assert chain.token_balance(api.pay_to, usdc, program) == before
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("amount", "9999", "invalid_exact_svm_payload_amount_insufficient"),
        ("amount", "10001", "invalid_exact_svm_payload_amount_exceeds_required"),
        ("network", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "network_mismatch"),
        ("max_timeout_seconds", 3600, "invalid_payment_requirements_max_timeout_mismatch"),
    ],
)
def test_accepted_terms_that_differ_from_the_offer_are_refused(
    api, assets, buyer: Buyer, field, value, reason
):
    """Signed consistently, but for terms the seller does not offer."""
    usdc, _ = assets["USDC"]

    def tamper(req):
        setattr(req, field, value)
        return req

    header = buyer.pay_header(_required(api), usdc, tamper=tamper, accepted_tamper=tamper)
    response = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    _assert_refused(response, reason)


def test_expired_blockhash_is_refused(api, harness, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    header = buyer.pay_header(_required(api), usdc)
    harness.advance_slots(400)  # past the 150-slot validity of the signed blockhash
    response = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    _assert_refused(response, "invalid_exact_svm_payload_blockhash_expired")
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000


def test_sequential_replay_is_refused_and_charged_once(api, assets, buyer: Buyer, chain: Chain):
    usdc, program = assets["USDC"]
    header = buyer.pay_header(_required(api), usdc)
    first = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    assert first.status_code == 200
    tx = decode_b64_json(first.headers["PAYMENT-RESPONSE"])["transaction"]
    again = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    assert again.status_code == 409
    assert again.json()["error"] == "duplicate_settlement"
    assert again.json()["transaction"] == tx
    assert "prices" not in again.json()
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - 10_000


def test_ten_concurrent_copies_yield_one_200_and_one_transfer(
    api, assets, buyer: Buyer, chain: Chain
):
    usdc, program = assets["USDC"]
    header = buyer.pay_header(_required(api), usdc)
    seller_before = chain.token_balance(api.pay_to, usdc, program)

    def send(_: int) -> requests.Response:
        return requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(send, range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 9, [r.text for r in responses]
    assert all(
        r.json()["error"] == "duplicate_settlement" for r in responses if r.status_code == 409
    )
    assert chain.token_balance(api.pay_to, usdc, program) - seller_before == 10_000
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - 10_000


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("%%%not-base64%%%", "invalid_payment_header_base64"),
        (_b64("{not json"), "invalid_payment_header_json"),
        (_b64(json.dumps({"x402Version": 7, "payload": {}})), "unsupported_x402_version"),
        (
            _b64(json.dumps({"x402Version": 1, "scheme": "upto", "network": "solana-devnet"})),
            "unsupported_scheme",
        ),
        (_b64(json.dumps({"x402Version": 2, "payload": {}})), "invalid_payment_payload"),
    ],
)
def test_malformed_payment_header_gets_402_with_reason(api, header, reason):
    response = requests.get(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=10)
    _assert_refused(response, reason)
    assert response.json()["accepts"], "the 402 still says how to pay"


def test_oversized_headers_are_refused(api):
    response = requests.get(api.url + FEED, headers={"X-Padding": "a" * 20_000}, timeout=10)
    assert response.status_code == 431
    assert response.json()["error"] == "request_headers_too_large"
