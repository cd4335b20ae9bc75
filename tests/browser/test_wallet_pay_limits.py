"""Paying with the wallet, at its limits: a wallet that never answers (timeout), the
agent's policy refusing before the wallet is asked, and hostile calls to the endpoints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import policies
from autopay_app.models import ApiRequest, Payment
from tests.browser import wallet_stack
from tests.browser.conftest import login
from tests.browser.wallet_stack import connect

pytestmark = pytest.mark.browser
agent_funds, services = wallet_stack.agent_funds, wallet_stack.services
stack, test_wallet = wallet_stack.stack, wallet_stack.test_wallet


@pytest.fixture()
def app_config() -> dict[str, Any]:
    return {"AUTOPAY_WALLET_SIGN_TIMEOUT_S": 2}


def _cards(page: Any) -> set[str]:
    cards = page.locator("[data-test=approval]")
    return {str(cards.nth(i).get_attribute("data-request")) for i in range(cards.count())}


def _ask(page: Any, path: str = "/api/market-feed") -> str:
    """Quote ``path``: the request id of its new approval card."""
    before = _cards(page)
    page.click(f"[data-test=catalog-item][data-path='{path}'] button")
    page.wait_for_selector(f"[data-test=approval] >> nth={len(before)}")
    (new,) = _cards(page) - before
    return new


def _payments(app: Any, request_id: str) -> list[Payment]:
    with app.app_context(), Session(db.engine) as session:
        return list(session.scalars(sa.select(Payment).where(Payment.api_request_id == request_id)))


def _start(page: Any, stack: Any, wallet: Any) -> None:
    wallet.install(page)
    login(page, stack.base)
    page.click("nav >> text=Interactive")
    connect(page, wallet)


def test_a_wallet_that_never_answers_times_out(page, stack, test_wallet):
    _start(page, stack, test_wallet)
    request_id = _ask(page)
    page.evaluate("window.__testWallet.mode = 'hang'")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=no-payment]", timeout=20_000)
    result = page.text_content("[data-test=result]")
    assert "WALLET_REFUSED" in result and "did not answer in time" in result
    assert _payments(stack.app, request_id) == []
    page.shot("wallet-timed-out")


def test_the_policy_refuses_before_the_wallet_is_asked(page, stack, test_wallet):
    _start(page, stack, test_wallet)
    request_id = _ask(page)
    with stack.app.app_context(), Session(db.engine) as session:
        policies.update(session, stack.agent.agent_id, per_request_cap=Decimal("0.001"))
    stack.agent.forget("policy")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=wallet-result]:text('Your wallet was not asked')")
    assert "POLICY_DENIED" in page.text_content("[data-test=wallet-result]")
    assert "per-request cap" in page.text_content("[data-test=wallet-result]")
    assert test_wallet.requests == [] and _payments(stack.app, request_id) == []
    page.shot("policy-refused")


def _post(page: Any, url: str, body: Any, csrf: str | None) -> Any:
    return page.request.post(url, data=body, headers={"X-CSRFToken": csrf} if csrf else {})


def test_hostile_calls_pay_nothing(page, stack, test_wallet):
    _start(page, stack, test_wallet)
    request_id = _ask(page)
    other_id = _ask(page, "/api/knowledge/sentiment")
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    base = f"{stack.base}/wallet/pay"
    address = {"address": test_wallet.address}
    assert _post(page, f"{base}/{request_id}/prepare", address, None).status == 400  # CSRF
    for path, body, status, text in [
        ("not-a-uuid/prepare", address, 400, "request_id"),
        (f"{request_id}/prepare", {"address": "x"}, 400, "not a Solana address"),
        (f"{request_id}/prepare", ["x"], 400, "not a JSON object"),
        ("00000000-0000-0000-0000-000000000000/prepare", address, 409, "no request"),
        (
            f"{request_id}/submit",
            {"key": "forged", "transaction": "AAAA"},
            400,
            "not a transaction this app built",
        ),
        (f"{request_id}/refuse", {"reason": "because"}, 409, "reason: one of"),
    ]:
        answer = _post(page, f"{base}/{path}", body, csrf)
        assert answer.status == status, (path, answer.text())
        assert text in answer.text() and "Traceback" not in answer.text()
    built = _post(page, f"{base}/{request_id}/prepare", address, csrf).json()
    signed = test_wallet.sign(built["transaction"], "solana:devnet")
    # The key of one request does not pay another.
    answer = _post(page, f"{base}/{other_id}/submit", {**built, "transaction": signed}, csrf)
    assert answer.status == 409 and "not for request" in answer.text()
    # A transaction the wallet signed for something else is not this payment.
    other = _post(page, f"{base}/{other_id}/prepare", address, csrf).json()
    forged = test_wallet.sign(other["transaction"], "solana:devnet")
    answer = _post(page, f"{base}/{request_id}/submit", {**built, "transaction": forged}, csrf)
    assert answer.status == 400 and "SIGNATURE_INVALID" in answer.text()
    assert _payments(stack.app, request_id) == [] and _payments(stack.app, other_id) == []
    with stack.app.app_context(), Session(db.engine) as session:
        statuses = {str(session.get_one(ApiRequest, r).status) for r in (request_id, other_id)}
    assert statuses == {"PAYMENT_REQUIRED"}  # still waiting for the person
