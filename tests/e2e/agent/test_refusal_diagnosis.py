"""A refused payment is classified by the cause the agent proves with its own chain reads.

Each seller here sits behind a proxy that blurs every refusal into the generic
``transaction_simulation_failed`` (what a public facilitator says), so the
classification can only come from the agent's own reads: a recipient without a
token account, a balance below the amount, an expired blockhash, a changed quote.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from solders.keypair import Keypair
from werkzeug.wrappers import Request, Response

from autopay_app.agent import Agent
from mock_premium_api.testing import run_mock_api
from tests.e2e.agent.conftest import Stack, allow
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.agent.sellers import scripted_seller
from tests.e2e.chain_ops import close_token_account, move_tokens

pytestmark = pytest.mark.e2e
FEED = "/api/market-feed"
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
GENERIC = "transaction_simulation_failed"
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "host"}
Rewrite = Callable[[Request, Response], Response]


def _blurred(request: Request, answer: Response) -> Response:
    """A paid request's 402 says only the generic reason (header and v1 body)."""
    if answer.status_code != 402 or "PAYMENT-SIGNATURE" not in request.headers:
        return answer
    required = json.loads(base64.b64decode(answer.headers["PAYMENT-REQUIRED"]))
    required["error"] = GENERIC
    answer.headers["PAYMENT-REQUIRED"] = base64.b64encode(json.dumps(required).encode()).decode()
    body = json.loads(answer.get_data())
    body["error"] = GENERIC
    answer.set_data(json.dumps(body))
    return answer


def proxy(
    base_url: str, rewrite: Rewrite = _blurred, before: Callable[[Request], None] | None = None
):
    def handler(request: Request) -> Response:
        if before is not None:
            before(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = requests.get(
            base_url + request.full_path.rstrip("?"), headers=headers, timeout=30
        )
        answer = Response(
            upstream.content,
            status=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
        )
        return rewrite(request, answer)

    return handler


def classification(engine: sa.Engine, request_id: object) -> tuple[str, str, str, str]:
    found = rows(
        engine,
        "SELECT category::text, x402_reason, details->>'cause', message "
        "FROM error_classifications WHERE api_request_id = :r "
        "AND message LIKE 'payment refused%'",
        r=request_id,
    )
    assert len(found) == 1, found
    return tuple(found[0])  # type: ignore[return-value]


def test_a_recipient_without_a_token_account_is_named(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine, tmp_path: Path
) -> None:
    h = stack.harness
    with run_mock_api(
        facilitator_url=h.facilitator_url,
        rpc_url=h.rpc_url,
        cash_mint=h.cash_mint,
        env={"MOCK_API_STATE_DIR": str(tmp_path)},
    ) as api:
        seller = Keypair.from_bytes(
            bytes(json.loads((tmp_path / "seller-keypair.json").read_text()))
        )
        h.fund(api.pay_to, sol="0.01")
        close_token_account(h.rpc_url, seller, h.usdc_mint, TOKEN)  # the seller closed it
        agent = make_agent(usdc=1)
        with scripted_seller(proxy(api.url)) as front:
            allow(agent, [urlsplit(front.url).netloc], [api.pay_to])  # another seller
            result = agent.fetch(front.url + FEED, asset="USDC")
    assert (result.status, result.category) == ("FAILED", "FACILITATOR_REJECTED")
    category, reason, cause, message = classification(engine, result.request_id)
    assert reason == "invalid_exact_svm_payload_transaction_receiver_ata_not_found"
    assert cause == "RECIPIENT_ACCOUNT_MISSING"
    assert f"the recipient {api.pay_to} has no USDC token account" in message
    assert GENERIC in message  # the seller's own words are kept


def test_a_balance_below_the_amount_is_classified_insufficient_funds(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    h = stack.harness
    agent = make_agent(usdc=1)
    with scripted_seller(proxy(stack.api.url)) as front:
        allow(agent, [urlsplit(front.url).netloc])  # the premium API behind another host
        assert agent.fetch(front.url + FEED, asset="USDC").status == "ACCESSED"
        assert agent.wait_refreshed()  # the balance row after that payment
        # The funds leave between the balance read and the next payment (another wallet app).
        sink, fee_payer = Keypair(), Keypair()
        h.fund(str(sink.pubkey()), usdc=0)
        h.fund(str(fee_payer.pubkey()), sol="0.01")
        move_tokens(h.rpc_url, agent.keypair, sink.pubkey(), h.usdc_mint, TOKEN, 985_000, fee_payer)
        result = agent.fetch(front.url + FEED, asset="USDC")
    assert (result.status, result.category) == ("FAILED", "INSUFFICIENT_FUNDS")
    category, reason, cause, message = classification(engine, result.request_id)
    assert (reason, cause) == ("insufficient_funds", "INSUFFICIENT_FUNDS")
    assert "the agent holds 0.005 USDC, below the amount 0.01" in message


def test_an_expired_blockhash_is_named(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    h = stack.harness
    agent = make_agent(usdc=1)

    def stall(request: Request) -> None:  # the payment waits past its blockhash's life
        if "PAYMENT-SIGNATURE" in request.headers:
            h.advance_slots(400)

    with scripted_seller(proxy(stack.api.url, before=stall)) as front:
        allow(agent, [urlsplit(front.url).netloc])
        result = agent.fetch(front.url + FEED, asset="USDC")
    assert result.status == "FAILED"
    category, reason, cause, message = classification(engine, result.request_id)
    assert (category, reason, cause) == (
        "FACILITATOR_REJECTED",
        "invalid_exact_svm_payload_blockhash_expired",
        "BLOCKHASH_EXPIRED",
    )
    assert "blockhash expired" in message


def test_a_changed_quote_is_named(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=1)

    def halve_the_offer(request: Request, answer: Response) -> Response:
        if answer.status_code != 402 or "PAYMENT-SIGNATURE" in request.headers:
            return _blurred(request, answer)
        required = json.loads(base64.b64decode(answer.headers["PAYMENT-REQUIRED"]))
        for offer in required["accepts"]:
            offer["amount"] = str(int(offer["amount"]) // 2)
        answer.headers["PAYMENT-REQUIRED"] = base64.b64encode(
            json.dumps(required).encode()
        ).decode()
        return answer

    with scripted_seller(proxy(stack.api.url, halve_the_offer)) as front:
        allow(agent, [urlsplit(front.url).netloc])
        result = agent.fetch(front.url + FEED, asset="USDC")
    assert result.status == "FAILED"
    category, reason, cause, message = classification(engine, result.request_id)
    assert (reason, cause) == (
        "invalid_exact_svm_payload_transaction_amount_mismatch",
        "AMOUNT_MISMATCH",
    )
    assert "the seller now asks 10000 atomic units of USDC; the agent signed 5000" in message
