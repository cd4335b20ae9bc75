"""The 402 parser and the payment-header decoders under hypothesis.

Any input gives a valid result or the parser's classified error, never another
exception: see ``fuzz/oracles.py`` for what each parser may answer. Inputs
range from random bytes to near-valid documents with one field broken, so
the search gets past base64 and JSON into the schema and amount checks.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autopay_app.devtools import samples
from fuzz import oracles

#: ``AUTOPAY_FUZZ_EXAMPLES=5000`` for a longer search than ``make test`` affords.
FUZZ = settings(
    max_examples=int(os.environ.get("AUTOPAY_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["1", "0", "-1", "1e3", "18446744073709551616", " 5", "0x10", "１"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

V1_DOCUMENT = {
    "x402Version": 1,
    "error": "X-PAYMENT header is required",
    "accepts": [
        {
            "scheme": "exact",
            "network": "solana-devnet",
            "maxAmountRequired": "10000",
            "resource": "http://127.0.0.1:8402/api/market-feed",
            "description": "Premium data",
            "mimeType": "application/json",
            "payTo": samples.DEMO_SELLER,
            "maxTimeoutSeconds": 60,
            "asset": samples.USDC_DEVNET_MINT,
            "extra": {"feePayer": samples.DEMO_FEE_PAYER},
        }
    ],
}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    target = copy
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


@st.composite
def near_valid_documents(draw: st.DrawFn) -> Any:
    """A valid v1 or v2 402 document with up to three fields replaced or deleted."""
    doc = draw(st.sampled_from([samples.payment_required("http://s/x"), V1_DOCUMENT]))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replace(doc, path, draw(json_values), draw(st.booleans()))
    return doc


header_text = st.one_of(
    st.text(max_size=64),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    json_values.map(oracles.b64_json),
    near_valid_documents().map(oracles.b64_json),
    near_valid_documents().map(lambda d: oracles.b64_json(d)[:-3]),  # truncated base64
)
bodies = st.one_of(
    st.binary(max_size=128),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_valid_documents().map(lambda d: json.dumps(d).encode()),
)
header_names = st.sampled_from(
    ["PAYMENT-REQUIRED", "payment-required", "PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE", "X-Other"]
)
headers = st.dictionaries(header_names, header_text, max_size=3)


@FUZZ
@given(headers=headers, body=bodies)
def test_402_parsing_fails_only_as_invalid_402(headers: dict[str, str], body: bytes) -> None:
    event(oracles.check_gateway(headers, body))


@FUZZ
@given(document=near_valid_documents(), as_header=st.booleans())
def test_near_valid_402_documents(document: Any, as_header: bool) -> None:
    if as_header:
        event(oracles.check_gateway({"PAYMENT-REQUIRED": oracles.b64_json(document)}, b""))
    else:
        event(oracles.check_gateway({}, json.dumps(document).encode()))


def test_the_unbroken_documents_parse() -> None:
    """The generators start from documents the parser accepts (else the search is blind)."""
    from autopay_app.agent.gateway import parse_payment_required

    v2 = parse_payment_required(
        {"PAYMENT-REQUIRED": oracles.b64_json(samples.payment_required("http://s/x"))}, b""
    )
    v1 = parse_payment_required({}, json.dumps(V1_DOCUMENT).encode())
    assert (v2.version, v2.offers[0].amount_atomic) == (2, 10_000)
    assert (v1.version, v1.offers[0].amount_atomic) == (1, 10_000)


@pytest.fixture(scope="module")
def seller() -> Any:
    return oracles.mock_seller()


def _payment_payload(transaction: str) -> dict[str, Any]:
    required = samples.payment_required("http://s/x")
    return {
        "x402Version": 2,
        "resource": required["resource"],
        "accepted": required["accepts"][0],
        "payload": {"transaction": transaction},
    }


@st.composite
def mutated_transactions(draw: st.DrawFn) -> bytes:
    """A valid signed transfer with a few bytes overwritten, cut or appended."""
    tx = bytearray(oracles.transfer_transaction())
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(tx) - 1))
        tx[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(tx)))
    return bytes(tx[:cut] if draw(st.booleans()) else tx) + draw(st.binary(max_size=4))


transactions = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    mutated_transactions().map(lambda b: base64.b64encode(b).decode()),
)


@st.composite
def payment_headers(draw: st.DrawFn) -> str:
    """PAYMENT-SIGNATURE / X-PAYMENT values: junk, or a payload with a broken part."""
    doc = _payment_payload(draw(transactions))
    doc["accepted"]["network"] = draw(
        st.sampled_from([doc["accepted"]["network"], "solana-devnet", "eip155:1"])
    )
    if draw(st.booleans()):
        doc = {**doc, "x402Version": 1, "scheme": "exact", "network": "solana-devnet"}
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replace(doc, path, draw(json_values), draw(st.booleans()))
    return draw(st.one_of(st.just(oracles.b64_json(doc)), header_text))


@FUZZ
@given(raw=payment_headers())
def test_mock_api_payment_header_decoding_is_classified(seller: Any, raw: str) -> None:
    event(oracles.check_mock_payment_header(seller, raw))
