"""Hostile and malformed 402s never reach the signer; each is a classified failure."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopay_app.agent import Agent
from autopay_app.devtools import samples
from tests.e2e.agent.conftest import Stack, allow
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.agent.sellers import answer_402, scripted_seller

USDC = samples.USDC_DEVNET_MINT


def offer(agent: Agent, **over: Any) -> dict[str, Any]:
    base = {
        "scheme": "exact",
        "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "asset": USDC,
        "amount": "10000",
        "payTo": samples.fake_address("seller"),
        "maxTimeoutSeconds": 60,
        "extra": {"feePayer": samples.fake_address("fp")},
    }
    base.update(over)
    return base


def hostile_offers(agent: Agent) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda n: offer(agent, network=n),
            st.sampled_from(
                [
                    "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
                    "base-sepolia",
                    "eip155:8453",
                    "solana-mainnet",
                    "",
                ]
            ),
        ),
        st.builds(lambda seed: offer(agent, asset=samples.fake_address(seed)), st.text(max_size=8)),
        st.builds(
            lambda a: offer(agent, amount=str(a)), st.integers(min_value=100_001, max_value=2**63)
        ),  # above the 0.10 cap
        st.just(offer(agent, extra={"feePayer": agent.address})),
        st.just(offer(agent, payTo=agent.address)),
        st.just(offer(agent, extra={})),
        st.builds(
            lambda a: offer(agent, amount=a),
            st.sampled_from(["-5", "0", "1e3", "0x10", "", "ten", "1.5"]),
        ),
        st.just(offer(agent, scheme="upto")),
    )


def malformed_headers() -> st.SearchStrategy[bytes]:
    # Raw header bytes: anything HTTP can carry in a header value (no CR, LF or NUL).
    sendable = st.binary(max_size=200).filter(lambda b: not set(b) & {0, 10, 13})
    return st.one_of(
        st.binary(max_size=200).map(base64.b64encode),
        sendable,
        st.text(max_size=200).map(lambda t: base64.b64encode(t.encode())),
        st.just(base64.b64encode(b'{"x402Version": 3, "accepts": []}')),
        st.just(base64.b64encode(b'{"x402Version": 2, "accepts": []}')),
        st.just(base64.b64encode(b"[1, 2, 3]")),
    )


@pytest.fixture()
def spied_agent(make_agent: Callable[..., Agent]) -> Agent:
    agent = make_agent()
    allow(agent, ["127.0.0.1"], ["*"])  # the scripted sellers: every other check still runs

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a hostile 402 reached the signer")

    agent.signer.sign = refuse  # type: ignore[method-assign]
    return agent


def _assert_refused(engine: sa.Engine, agent: Agent, result: Any, allowed: set[str]) -> None:
    assert result.status == "FAILED"
    assert result.category in allowed, result.error
    assert (
        rows(
            engine, "SELECT count(*) FROM payments WHERE api_request_id = :r", r=result.request_id
        )[0][0]
        == 0
    )
    cls = rows(
        engine,
        "SELECT category::text FROM error_classifications WHERE api_request_id = :r",
        r=result.request_id,
    )
    assert [c[0] for c in cls] == [result.category]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_offers_are_refused_before_signing(
    stack: Stack, spied_agent: Agent, engine: sa.Engine, data: st.DataObject
) -> None:
    bad = data.draw(hostile_offers(spied_agent))
    document = {"x402Version": 2, "resource": {"url": "x"}, "accepts": [bad]}
    with scripted_seller(lambda request: answer_402(document)) as seller:
        result = spied_agent.fetch(seller.url + "/api/market-feed")
    _assert_refused(engine, spied_agent, result, {"POLICY_DENIED", "INVALID_402"})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=malformed_headers())
def test_malformed_402_encodings_are_invalid_402(
    stack: Stack, spied_agent: Agent, engine: sa.Engine, header: bytes
) -> None:
    with scripted_seller(lambda request: answer_402(b"{}", raw=header)) as seller:
        result = spied_agent.fetch(seller.url + "/api/market-feed")
    _assert_refused(engine, spied_agent, result, {"INVALID_402"})
