"""Header codecs, fault knobs, catalog shape and serving helpers."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from mock_premium_api.catalog import ENDPOINTS, build_catalog, format_decimal
from mock_premium_api.faults import FaultState
from mock_premium_api.rpc import BlockhashChecker
from mock_premium_api.server import is_loopback, ready_line
from mock_premium_api.wire import (
    PaymentHeaderError,
    b64_json,
    decode_json_header,
    payment_required_with_error,
    v1_receipt,
)

REQ = {
    "scheme": "exact",
    "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    "amount": "10000",
    "payTo": "seller",
    "maxTimeoutSeconds": 60,
    "extra": {"feePayer": "fp"},
}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not base64!", "invalid_payment_header_base64"),
        (base64.b64encode(b"\xff\xfe").decode(), "invalid_payment_header_json"),
        (base64.b64encode(b"[1, 2]").decode(), "invalid_payment_header_json"),
    ],
)
def test_decode_json_header_reasons(raw, reason):
    with pytest.raises(PaymentHeaderError) as excinfo:
        decode_json_header(raw)
    assert excinfo.value.reason == reason


def test_payment_required_gets_error_and_v1_body():
    required = {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": "http://x/api/market-feed", "description": "d", "mimeType": "m"},
        "accepts": [REQ],
    }
    header, body = payment_required_with_error(b64_json(required), "network_mismatch")
    assert decode_json_header(header)["error"] == "network_mismatch"
    assert body == {
        "x402Version": 1,
        "error": "network_mismatch",
        "accepts": [
            {
                "scheme": "exact",
                "network": "solana-devnet",
                "maxAmountRequired": "10000",
                "resource": "http://x/api/market-feed",
                "description": "d",
                "mimeType": "m",
                "payTo": "seller",
                "maxTimeoutSeconds": 60,
                "asset": REQ["asset"],
                "extra": {"feePayer": "fp"},
            }
        ],
    }
    _, kept = payment_required_with_error(b64_json(required), "")
    assert kept["error"] == "Payment required"


def test_v1_receipt_uses_the_v1_network_name():
    receipt = {"success": True, "transaction": "sig", "network": REQ["network"], "payer": "p"}
    assert json.loads(base64.b64decode(v1_receipt(b64_json(receipt))))["network"] == (
        "solana-devnet"
    )


def test_fault_state_validates_and_draws_repeatably():
    state = FaultState()
    state.update({"error_rate_after_settle": 0.5, "seed": 42})
    first = [state.should_fail_after_settle() for _ in range(20)]
    state.update({"seed": 42})
    assert [state.should_fail_after_settle() for _ in range(20)] == first
    assert 0 < sum(first) < 20
    assert state.update({"price_multiplier": "1.5"}).price_multiplier == Decimal("1.5")
    assert state.current.error_rate_after_settle == 0.5  # unnamed knobs keep their value
    for bad in ({"delay_ms": -1}, {"price_multiplier": "abc"}, {"error_rate_after_settle": 1.1}):
        with pytest.raises(ValueError):
            state.update(bad)
    assert state.reset().as_json() == {
        "price_multiplier": 1.0,
        "error_rate_after_settle": 0.0,
        "delay_ms": 0,
        "seed": 1,
    }
    assert state.should_fail_after_settle() is False


def test_catalog_lists_every_endpoint_with_its_requirements():
    def requirements_for(endpoint):
        return [dict(REQ, amount="5")], {"USDC": Decimal("0.000005")}

    catalog = build_catalog("http://127.0.0.1:8402", requirements_for)
    assert catalog["pagination"]["total"] == len(ENDPOINTS) == 4
    for item, endpoint in zip(catalog["items"], ENDPOINTS, strict=True):
        assert item["resource"] == "http://127.0.0.1:8402" + endpoint.path
        assert item["method"] == "GET"
        assert item["category"] in {"MARKET_DATA", "KNOWLEDGE_DATA"}
        assert item["ttl_seconds"] == endpoint.ttl_seconds
        assert item["prices"] == {"USDC": "0.000005"}
        assert item["networks"] == [REQ["network"]]


@pytest.mark.parametrize(
    ("value", "text"), [("0.010", "0.01"), ("10", "10"), ("0.000001", "0.000001")]
)
def test_format_decimal(value, text):
    assert format_decimal(Decimal(value)) == text


def test_server_knows_loopback_and_announces_itself():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    line = ready_line("http://127.0.0.1:4021", "seller", 77)
    assert line.startswith("MOCK API READY ")
    info = json.loads(line.removeprefix("MOCK API READY "))
    assert info == {"url": "http://127.0.0.1:4021", "pay_to": "seller", "pid": 77}


def test_blockhash_checker_says_unknown_when_rpc_is_unreachable():
    checker = BlockhashChecker("http://127.0.0.1:9", timeout=0.5)
    try:
        assert checker.is_valid("11111111111111111111111111111111") is None
    finally:
        checker.close()
