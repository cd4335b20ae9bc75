"""Top up the agent from the person's wallet: the agent paused for low balance (it holds
nothing, not even token accounts), the wallet signs a transfer built by the server, the
chain and the page show the new balance, the ledger has TOP_UP events, the pause lifts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.models import AuditEvent, AuditEventType
from tests.browser import wallet_stack
from tests.browser.conftest import login
from tests.browser.wallet_stack import connect
from tests.e2e.interop import chain_reads

pytestmark = pytest.mark.browser
services, stack, test_wallet = wallet_stack.services, wallet_stack.stack, wallet_stack.test_wallet
app_config = wallet_stack.app_config


@pytest.fixture()
def agent_funds() -> dict[str, Any]:
    return {}  # never funded: no token accounts, paused for low balance


def _events(app: Any, agent_id: Any, kind: AuditEventType) -> list[AuditEvent]:
    with app.app_context(), Session(db.engine) as session:
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.agent_id == agent_id, AuditEvent.event_type == kind)
                .order_by(AuditEvent.created_at)
            )
        )


def _top_up(page: Any, asset: str, amount: str) -> str:
    page.select_option("[data-test=topup-form] select[name=asset]", asset)
    page.fill("[data-test=topup-form] input[name=amount]", amount)
    page.click("[data-test=topup]")
    result = page.wait_for_selector(f"[data-test=wallet-result]:text('Topped up {amount} {asset}')")
    return str(result.get_attribute("data-signature"))


def test_top_up_from_the_wallet_lifts_the_low_balance_pause(page, stack, test_wallet):
    rpc, agent = stack.harness.rpc_url, stack.agent
    test_wallet.install(page)
    login(page, stack.base)
    page.wait_for_selector("[data-test=low-balance]")
    assert chain_reads.token_balance(rpc, agent.address, stack.harness.usdc_mint) == 0
    connect(page, test_wallet)
    page.click("[data-test=low-balance-topup]")  # chooses the agent and USDC in the form
    assert page.input_value("[data-test=topup-form] select[name=asset]") == "USDC"
    page.shot("before-top-up")

    signature = _top_up(page, "USDC", "2")
    page.shot("topped-up")
    assert chain_reads.token_balance(rpc, agent.address, stack.harness.usdc_mint) == 2
    assert chain_reads.token_balance(rpc, test_wallet.address, stack.harness.usdc_mint) == 3
    # The agent's token account did not exist: the wallet's transaction created it first.
    ((chain, signed),) = test_wallet.requests
    assert chain == "solana:devnet" and len(signed.message.instructions) == 2
    # The page shows it (the overview polls), the wallet's balance too.
    page.wait_for_selector("[data-test=balance-USDC]:text-is('2')")
    page.wait_for_selector("[data-test=wallet-USDC]:text-is('3')")
    (event,) = _events(stack.app, agent.agent_id, AuditEventType.TOP_UP)
    assert event.details["payer"] == test_wallet.address
    assert event.details["signature"] == signature
    assert (event.details["asset"], Decimal(event.details["amount"])) == ("USDC", 2)
    assert page.is_visible("[data-test=low-balance]:text('CASH below')")  # still no CASH

    # CASH is a Token-2022 mint here: the same form, the mint's own token program.
    _top_up(page, "CASH", "0.5")
    assert chain_reads.token_balance(rpc, agent.address, stack.harness.cash_mint) == Decimal("0.5")
    assert len(test_wallet.requests[1][1].message.instructions) == 2
    page.wait_for_selector("[data-test=balance-CASH]:text-is('0.5')")
    # The pause lifted by itself.
    page.wait_for_selector("[data-test=low-balance]", state="detached")
    low = _events(stack.app, agent.agent_id, AuditEventType.LOW_BALANCE)
    assert [e.details["state"] for e in low] == ["PAUSED", "RESUMED"]
    page.shot("cash-topped-up")
    # Again, to an existing account: just the transfer.
    _top_up(page, "USDC", "0.25")
    assert len(test_wallet.requests[2][1].message.instructions) == 1
    assert chain_reads.token_balance(rpc, agent.address, stack.harness.usdc_mint) == Decimal("2.25")
    assert len(_events(stack.app, agent.agent_id, AuditEventType.TOP_UP)) == 3


def _post(page: Any, url: str, body: Any, csrf: str | None) -> Any:
    headers = {"X-CSRFToken": csrf} if csrf else {}
    return page.request.post(url, data=body, headers=headers)


def test_top_up_refuses_hostile_input_and_a_tampered_transaction(page, stack, test_wallet):
    rpc, agent = stack.harness.rpc_url, stack.agent
    login(page, stack.base)
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    prepare, submit = f"{stack.base}/wallet/topup/prepare", f"{stack.base}/wallet/topup/submit"
    good = {
        "agent_id": str(agent.agent_id),
        "address": test_wallet.address,
        "asset": "USDC",
        "amount": "1",
    }
    assert _post(page, prepare, good, None).status == 400  # no CSRF token
    for field, value, status in [
        ("amount", "-1", 409),
        ("amount", "1e999", 409),
        ("amount", "0.0000001", 409),
        ("amount", "NaN", 409),
        ("asset", "SOL", 409),
        ("address", "not-an-address", 400),
        ("agent_id", "x' OR 1=1", 400),
        ("amount", "x" * 9000, 400),
    ]:
        answer = _post(page, prepare, {**good, field: value}, csrf)
        assert answer.status == status, (field, value, answer.text())
        assert "error" in answer.json() and "Traceback" not in answer.text()
    assert _post(page, prepare, [1, 2], csrf).status == 400
    poor = {**good, "amount": "6"}  # the wallet holds 5
    assert "INSUFFICIENT_FUNDS" in _post(page, prepare, poor, csrf).json()["error"]["message"]

    built = _post(page, prepare, good, csrf).json()
    # A page that swaps the transaction (here: the wallet signs a transfer of 5, not 1).
    other = _post(page, prepare, {**good, "amount": "5"}, csrf).json()
    forged = test_wallet.sign(other["transaction"], "solana:devnet")
    answer = _post(
        page,
        submit,
        {"agent_id": good["agent_id"], "key": built["key"], "transaction": forged},
        csrf,
    )
    assert answer.status == 400 and "SIGNATURE_INVALID" in answer.json()["error"]["message"]
    # Unsigned bytes are refused too, and so is a key the app did not make.
    agent_id = good["agent_id"]
    unsigned = {"agent_id": agent_id, "key": other["key"], "transaction": other["transaction"]}
    answer = _post(page, submit, unsigned, csrf)
    assert answer.status == 400 and "no valid signature" in answer.json()["error"]["message"]
    altered = other["key"][:-3] + ("AAA" if not other["key"].endswith("AAA") else "BBB")
    answer = _post(page, submit, {**unsigned, "key": altered, "transaction": forged}, csrf)
    assert answer.status == 400 and "not a transaction this app built" in answer.text()
    assert chain_reads.token_balance(rpc, agent.address, stack.harness.usdc_mint) == 0  # untouched
    assert _events(stack.app, agent.agent_id, AuditEventType.TOP_UP) == []
