"""A refused payment's 402 names the cause with an x402 error code, not the generic one.

The harness facilitator (the SDK's) refuses these payments with
``transaction_simulation_failed``; the seller's 402 must carry the specific
reason in ``error`` (PAYMENT-REQUIRED header and v1 body alike).
"""

from __future__ import annotations

import json
from pathlib import Path

import requests
from solders.keypair import Keypair

from harness.testing import HarnessInfo
from mock_premium_api.testing import run_mock_api
from tests.e2e.chain_ops import close_token_account
from tests.e2e.mock_api.mock_api_helpers import (
    TOKEN_PROGRAM,
    Buyer,
    Chain,
    decode_b64_json,
    payment_required,
)

FEED = "/api/market-feed"


def _refusal(url: str, header: str) -> str:
    response = requests.get(url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    assert response.status_code == 402, response.text
    in_header = decode_b64_json(response.headers["PAYMENT-REQUIRED"])["error"]
    assert response.json()["error"] == in_header
    return str(in_header)


def _buyer(harness: HarnessInfo, **funds: str) -> Buyer:
    keypair = Keypair()
    if funds:
        harness.fund(str(keypair.pubkey()), **funds)
    return Buyer(keypair, harness)


def test_a_buyer_below_the_price_is_told_insufficient_funds(
    api, harness: HarnessInfo, chain: Chain
):
    buyer = _buyer(harness, usdc="0.001")
    try:
        required = payment_required(requests.get(api.url + FEED, timeout=10))
        assert _refusal(api.url, buyer.pay_header(required, harness.usdc_mint)) == (
            "insufficient_funds"
        )
    finally:
        buyer.close()
    assert chain.token_balance(buyer.address, harness.usdc_mint, TOKEN_PROGRAM) == 1000


def test_a_buyer_without_a_token_account_is_told_so(api, harness: HarnessInfo):
    buyer = _buyer(harness)  # never funded: no token account at all
    try:
        required = payment_required(requests.get(api.url + FEED, timeout=10))
        reason = _refusal(api.url, buyer.pay_header(required, harness.usdc_mint))
    finally:
        buyer.close()
    assert reason == "invalid_exact_svm_payload_transaction_sender_ata_not_found"


def test_a_seller_whose_token_account_was_closed_says_so(harness: HarnessInfo, tmp_path: Path):
    env = {"MOCK_API_STATE_DIR": str(tmp_path), "USDC_MINT": harness.usdc_mint}
    with run_mock_api(
        facilitator_url=harness.facilitator_url,
        rpc_url=harness.rpc_url,
        cash_mint=harness.cash_mint,
        env=env,
    ) as seller_api:
        seller = Keypair.from_bytes(
            bytes(json.loads((tmp_path / "seller-keypair.json").read_text()))
        )
        harness.fund(seller_api.pay_to, sol="0.01")  # the seller pays its own fee
        close_token_account(harness.rpc_url, seller, harness.usdc_mint, TOKEN_PROGRAM)
        buyer = _buyer(harness, usdc="1")
        try:
            required = payment_required(requests.get(seller_api.url + FEED, timeout=10))
            reason = _refusal(seller_api.url, buyer.pay_header(required, harness.usdc_mint))
        finally:
            buyer.close()
    assert reason == "invalid_exact_svm_payload_transaction_receiver_ata_not_found"
