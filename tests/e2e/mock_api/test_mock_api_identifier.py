"""A payment-identifier is bound to its payload and payer; HEAD is paid like GET.

The x402 payment-identifier rule: the same id with the same payload gets the
cached response; the same id with any other payload gets 409 and never the
data. Payloads are built by the x402 SDK's own client scheme.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
from solders.keypair import Keypair

from harness.testing import HarnessInfo
from tests.e2e.mock_api.mock_api_helpers import Buyer, Chain, decode_b64_json, payment_required

FEED = "/api/market-feed?symbols=BTC"
PRICE = 10_000  # default market-feed price, atomic


def _pay(api, header: str, path: str = FEED) -> requests.Response:
    return requests.get(api.url + path, headers={"PAYMENT-SIGNATURE": header}, timeout=30)


def _ext(payment_id: str) -> dict:
    return {"payment-identifier": {"info": {"required": False, "id": payment_id}}}


def _corrupt_signature(header: str) -> str:
    """The same payload with one byte of the buyer's signature flipped."""
    payload = json.loads(base64.b64decode(header))
    tx = bytearray(base64.b64decode(payload["payload"]["transaction"]))
    # wire format: compact-u16 count (2), fee payer slot (64 bytes), buyer's signature
    tx[1 + 64 + 7] ^= 0xFF
    payload["payload"]["transaction"] = base64.b64encode(bytes(tx)).decode()
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def other_buyer(harness: HarnessInfo) -> Iterator[Buyer]:
    """A second funded wallet (buyer B)."""
    keypair = Keypair()
    harness.fund(str(keypair.pubkey()), sol=1, usdc=5, cash=5)
    wallet = Buyer(keypair, harness)
    yield wallet
    wallet.close()


def test_same_identifier_and_same_payload_gets_the_cached_response(
    api, assets, buyer: Buyer, chain: Chain
):
    usdc, program = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    header = buyer.pay_header(required, usdc, extensions=_ext("retry_same_payload_0001"))
    first = _pay(api, header)
    assert first.status_code == 200, first.text
    again = _pay(api, header)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["PAYMENT-RESPONSE"] == first.headers["PAYMENT-RESPONSE"]
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE


def test_another_buyers_payload_with_a_known_identifier_gets_409_and_no_data(
    api, assets, buyer: Buyer, other_buyer: Buyer, chain: Chain
):
    """Buyer B reuses buyer A's id with its own never-settled payload: 409, no data."""
    usdc, program = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    ext = _ext("stolen_identifier_0001")
    assert _pay(api, buyer.pay_header(required, usdc, extensions=ext)).status_code == 200
    for _ in range(5):
        reused = _pay(api, other_buyer.pay_header(required, usdc, extensions=ext))
        assert reused.status_code == 409, reused.text
        assert reused.json()["error"] == "payment_identifier_conflict"
        assert "prices" not in reused.text
        assert "PAYMENT-RESPONSE" not in reused.headers
    assert chain.token_balance(other_buyer.address, usdc, program) == 5_000_000
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE


def test_same_buyer_new_payload_with_a_known_identifier_gets_409(api, assets, buyer: Buyer):
    usdc, _ = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    ext = _ext("one_id_one_payload_01")
    assert _pay(api, buyer.pay_header(required, usdc, extensions=ext)).status_code == 200
    second = _pay(api, buyer.pay_header(required, usdc, extensions=ext))  # a new transaction
    assert second.status_code == 409
    assert second.json()["error"] == "payment_identifier_conflict"


def test_corrupted_signature_with_a_known_identifier_gets_409(api, assets, buyer: Buyer):
    usdc, _ = assets["USDC"]
    required = payment_required(requests.get(api.url + FEED, timeout=10))
    header = buyer.pay_header(required, usdc, extensions=_ext("corrupted_signature_01"))
    assert _pay(api, header).status_code == 200
    forged = _pay(api, _corrupt_signature(header))
    assert forged.status_code == 409, forged.text
    assert forged.json()["error"] == "payment_identifier_conflict"
    assert "prices" not in forged.text


def test_corrupted_copy_of_an_undelivered_payment_is_not_redelivered(
    api, assets, buyer: Buyer, chain: Chain
):
    """Redelivery after a failed handler needs the exact payload, not just its message."""
    usdc, _ = assets["USDC"]
    faults = {"error_rate_after_settle": 1.0}
    assert requests.post(api.url + "/_mock/faults", json=faults, timeout=10).status_code == 200
    header = buyer.pay_header(payment_required(requests.get(api.url + FEED, timeout=10)), usdc)
    failed = _pay(api, header)
    assert failed.status_code == 500
    requests.delete(api.url + "/_mock/faults", timeout=10)
    forged = _pay(api, _corrupt_signature(header))
    assert forged.status_code == 409, forged.text
    assert "prices" not in forged.text
    redelivered = _pay(api, header)  # the real buyer still gets its data once
    assert redelivered.status_code == 200
    assert decode_b64_json(redelivered.headers["PAYMENT-RESPONSE"]) == decode_b64_json(
        failed.headers["PAYMENT-RESPONSE"]
    )


def test_head_on_a_paid_path_is_answered_402_without_payment(api):
    response = requests.head(api.url + FEED, timeout=10)
    assert response.status_code == 402
    assert "PAYMENT-REQUIRED" in response.headers
    assert response.content == b""
    listed = requests.head(api.url + "/api/knowledge/sentiment?asset=SOL", timeout=10)
    assert listed.status_code == 402


def test_head_with_a_payment_is_never_settled(api, assets, buyer: Buyer, chain: Chain):
    """HEAD sends no body, so it never spends a payment: 402, and the payment stays usable."""
    usdc, program = assets["USDC"]
    header = buyer.pay_header(payment_required(requests.get(api.url + FEED, timeout=10)), usdc)
    response = requests.head(api.url + FEED, headers={"PAYMENT-SIGNATURE": header}, timeout=30)
    assert response.status_code == 402
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000
    paid = _pay(api, header)
    assert paid.status_code == 200
    assert chain.token_balance(buyer.address, usdc, program) == 5_000_000 - PRICE
