"""Protocol edges: a v1-only seller, a quote above the catalog, a receipt that lies,
and a seller whose facilitator is down."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from werkzeug.wrappers import Request, Response

from autopay_app.agent import Agent
from tests.e2e.agent.conftest import Stack, allow
from tests.e2e.agent.ledger_checks import assert_money_conserved, balances, rows
from tests.e2e.agent.sellers import scripted_seller

FEED = "/api/market-feed?symbols=BTC"
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def proxy_to(
    stack: Stack, rewrite: Callable[[Response], Response]
) -> Callable[[Request], Response]:
    """A seller that forwards to the mock API and rewrites its answers."""

    def handler(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        upstream = requests.get(
            stack.api.url + request.full_path.rstrip("?"), headers=headers, timeout=30
        )
        answer = Response(
            upstream.content,
            status=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
        )
        return rewrite(answer)

    return handler


def test_a_v1_only_seller_is_paid_in_v1(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    seen: list[str] = []

    def v1_only(answer: Response) -> Response:
        answer.headers.pop("PAYMENT-REQUIRED", None)
        seen.extend(k for k in answer.headers.keys() if k.upper().startswith("X-PAYMENT"))
        return answer

    with scripted_seller(proxy_to(stack, v1_only)) as seller:
        allow(agent, [urlsplit(seller.url).netloc])
        result = agent.fetch(seller.url + FEED)
    assert result.status == "ACCESSED", result.error
    assert result.wait_verified()
    stored = rows(
        engine,
        "SELECT x402_instructions->>'x402Version', p.x402_version, p.status::text "
        "FROM api_requests r JOIN payments p ON p.api_request_id = r.id "
        "WHERE r.id = :r",
        r=result.request_id,
    )
    assert stored == [("1", 1, "VERIFIED")]
    assert "X-PAYMENT-RESPONSE" in {k.upper() for k in seen}


def test_a_quote_above_the_catalog_price_is_refused(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    assert agent.fetch(stack.url(FEED)).status == "ACCESSED"  # reads the catalog
    requests.post(stack.url("/_mock/faults"), json={"price_multiplier": 1.5}, timeout=5)
    try:
        refused = agent.fetch(stack.url(FEED))
    finally:
        requests.delete(stack.url("/_mock/faults"), timeout=5)
    assert (refused.status, refused.category) == ("FAILED", "POLICY_DENIED")
    assert "catalog price" in (refused.error or "")
    assert (
        rows(
            engine, "SELECT count(*) FROM payments WHERE api_request_id = :r", r=refused.request_id
        )[0][0]
        == 0
    )


def test_a_receipt_naming_another_transaction_fails_verification(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    other = stack.harness.fund(agent.address, usdc="0.5")["signatures"][0]
    before = balances(agent)

    def lie(answer: Response) -> Response:
        for name in ("PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE"):
            if name in answer.headers:
                receipt = json.loads(base64.b64decode(answer.headers[name]))
                receipt["transaction"] = other
                answer.headers[name] = base64.b64encode(json.dumps(receipt).encode()).decode()
        return answer

    with scripted_seller(proxy_to(stack, lie)) as seller:
        allow(agent, [urlsplit(seller.url).netloc])
        result = agent.fetch(seller.url + FEED)
    payment = rows(engine, "SELECT status::text FROM payments WHERE id = :p", p=result.payment_id)
    assert payment == [("FAILED",)]
    cls = rows(
        engine,
        "SELECT category::text FROM error_classifications WHERE payment_id = :p",
        p=result.payment_id,
    )
    assert ("SIGNATURE_INVALID",) in cls
    errors = rows(
        engine,
        "SELECT count(*) FROM audit_events WHERE agent_id = :a AND "
        "severity = 'ERROR' AND details->>'category' = 'SIGNATURE_INVALID'",
        a=agent.agent_id,
    )
    assert errors[0][0] == 1
    failures = rows(
        engine,
        "SELECT count(*) FROM audit_events "
        "WHERE related_id = :p AND event_type = 'PAYMENT_FAILURE'",
        p=result.payment_id,
    )
    assert failures[0][0] == 1  # one event for the one transition, carrying its category
    assert before["USDC"] - balances(agent)["USDC"] == result.amount  # the seller took it


def test_facilitator_outage_opens_its_breaker(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(breaker_threshold=2, retry_base=0.01)
    before = balances(agent)
    stack.harness.set_fault(method="facilitator.*", mode="http_500", error_rate=1.0)
    try:
        first = agent.fetch(stack.url(FEED))
        second = agent.fetch(stack.url(FEED))
    finally:
        stack.harness.clear_faults()
    assert first.status == "FAILED" and second.status == "FAILED"
    opened = rows(
        engine,
        "SELECT details->>'breaker' FROM audit_events WHERE agent_id = :a "
        "AND event_type = 'CIRCUIT_BREAKER' AND details->>'state' = 'OPEN'",
        a=agent.agent_id,
    )
    assert ("facilitator",) in opened
    agent.reconcile()
    stack.harness.advance_slots(400)
    agent.reconcile()
    assert_money_conserved(engine, agent, before)
