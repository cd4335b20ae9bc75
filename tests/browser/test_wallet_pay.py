"""Phase 2 paid by the person's wallet: the x402 payment built as the SDK's client builds
it, with the wallet as token authority, partially signed by the wallet in the browser,
paid, verified on chain and recorded with the payer's address; a wallet that refuses or
disconnects leaves the request FAILED (WALLET_REFUSED) and pays nothing."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy.orm import Session

from autopay_app.agent import gateway, settle
from autopay_app.extensions import db
from autopay_app.models import ApiRequest, Payment, PaymentStatus
from tests.browser import wallet_stack
from tests.browser.conftest import login
from tests.browser.wallet_double import TestWallet
from tests.browser.wallet_stack import connect
from tests.e2e.interop import chain_reads

pytestmark = pytest.mark.browser
agent_funds, services = wallet_stack.agent_funds, wallet_stack.services
stack, test_wallet = wallet_stack.stack, wallet_stack.test_wallet
app_config = wallet_stack.app_config


def _ask(page: Any, path: str) -> tuple[str, str, Decimal]:
    """Quote ``path`` on the Interactive page: (request id, asset, price) of its card."""
    page.click(f"[data-test=catalog-item][data-path='{path}'] button")
    card = page.wait_for_selector("[data-test=approval]")
    amount, asset = page.text_content("[data-test=approval-price]").split()
    return str(card.get_attribute("data-request")), asset, Decimal(amount)


def _payments(app: Any, request_id: str) -> list[Payment]:
    with app.app_context(), Session(db.engine) as session:
        return list(session.scalars(sa.select(Payment).where(Payment.api_request_id == request_id)))


def _request(app: Any, request_id: str) -> ApiRequest:
    with app.app_context(), Session(db.engine) as session:
        return session.get_one(ApiRequest, request_id)


def _mint(stack: Any, asset: str) -> str:
    return stack.harness.usdc_mint if asset == "USDC" else stack.harness.cash_mint


def _start(page: Any, stack: Any, wallet: TestWallet) -> None:
    wallet.install(page)
    login(page, stack.base)
    page.click("nav >> text=Interactive")
    connect(page, wallet)


def test_pay_an_approved_quote_with_the_wallet(page, stack, test_wallet):
    rpc = stack.harness.rpc_url
    _start(page, stack, test_wallet)
    request_id, asset, price = _ask(page, "/api/market-feed")
    mint = _mint(stack, asset)
    wallet_before = chain_reads.token_balance(rpc, test_wallet.address, mint)
    agent_before = chain_reads.token_balance(rpc, stack.agent.address, mint)
    page.shot("approval-with-wallet-button")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=result-data]", timeout=60_000)
    page.shot("paid-with-wallet")

    # The wallet signed once: the facilitator pays the fee, the wallet is the authority.
    ((chain, tx),) = test_wallet.requests
    keys = [str(k) for k in tx.message.account_keys]
    assert chain == "solana:devnet" and keys[1] == test_wallet.address
    assert tx.message.header.num_required_signatures == 2 and keys[0] != test_wallet.address
    (payment,) = _payments(stack.app, request_id)
    assert payment.status == PaymentStatus.VERIFIED
    assert payment.payer_address == test_wallet.address
    assert _request(stack.app, request_id).status.value == "ACCESSED"
    # One transfer on chain, from the wallet's token account to the seller; the agent paid nothing.
    moved = dict(chain_reads.transfers(rpc, payment.payment_hash, mint))
    atomic = int(price * 10**6)
    assert moved[test_wallet.address] == -atomic and len(moved) == 2
    assert chain_reads.token_balance(rpc, test_wallet.address, mint) == wallet_before - price
    assert chain_reads.token_balance(rpc, stack.agent.address, mint) == agent_before
    # Reconciliation reads a wallet's payment in the wallet's history, and verifies it.
    ctx = stack.agent.ctx
    assert settle.find(ctx, payment.id) == payment.payment_hash
    assert settle.check_on_chain(ctx, settle.expected_of(ctx, payment), payment.payment_hash)
    # The payment's page names the wallet it came from.
    page.click("[data-test=result-payment]")
    assert test_wallet.address in page.text_content("[data-test=payment-payer]")
    page.shot("payment-from-wallet")


def test_a_wallet_that_refuses_pays_nothing(page, stack, test_wallet):
    _start(page, stack, test_wallet)
    request_id, _, _ = _ask(page, "/api/market-feed")
    page.evaluate("window.__testWallet.mode = 'reject'")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=no-payment]")
    result = page.text_content("[data-test=result]")
    assert "WALLET_REFUSED" in result and "refused to sign" in result
    assert _payments(stack.app, request_id) == []
    assert _request(stack.app, request_id).status.value == "FAILED"
    assert page.locator("[data-test=approval]").count() == 0
    page.shot("wallet-refused")


def test_a_wallet_that_disconnects_mid_flow_pays_nothing(page, stack, test_wallet):
    _start(page, stack, test_wallet)
    request_id, _, _ = _ask(page, "/api/market-feed")
    page.evaluate("window.__testWallet.mode = 'hang'")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=wallet-result]:text('Approve the payment in your wallet')")
    page.shot("waiting-for-wallet")
    page.evaluate("window.__testWallet.disconnect()")
    page.wait_for_selector("[data-test=no-payment]")
    result = page.text_content("[data-test=result]")
    assert "WALLET_REFUSED" in result and "disconnected" in result
    assert _payments(stack.app, request_id) == []
    assert test_wallet.requests == []
    page.shot("wallet-disconnected")


def test_a_wallet_without_the_funds_is_never_asked(page, stack, services):
    harness, _ = services
    poor = TestWallet()
    harness.fund(poor.address, sol=1)
    _start(page, stack, poor)
    request_id, _, _ = _ask(page, "/api/market-feed")
    page.click("[data-test=approval] [data-test=pay-with-wallet]")
    page.wait_for_selector("[data-test=wallet-result]:text('Your wallet was not asked')")
    assert "INSUFFICIENT_FUNDS" in page.text_content("[data-test=wallet-result]")
    assert poor.requests == [] and _payments(stack.app, request_id) == []
    assert page.locator("[data-test=approval]").count() == 1  # still the person's to decide
    page.shot("wallet-not-asked")


def test_the_wallet_payment_is_built_as_the_sdk_client_builds_it(stack):
    """The same 402 and blockhash, paid by one key through the SDK's client (the agent's
    Signer) and built for a wallet: the same transaction but for the random memo nonce,
    and the same payment header once the wallet's signature is in."""
    keypair, rpc, identifier = Keypair(), stack.harness.rpc_url, "pay_same_identifier_1"
    answer = requests.get(f"{stack.api.url}/api/market-feed", timeout=10)
    assert answer.status_code == 402
    info = gateway.parse_payment_required(dict(answer.headers), answer.content)
    offer = info.offers[0]
    blockhash = chain_reads.rpc(rpc, "getLatestBlockhash", [{"commitment": "confirmed"}])
    blockhash = blockhash["value"]["blockhash"]
    signer = gateway.Signer(keypair, rpc)
    try:
        by_sdk = signer.sign(info, offer, blockhash, identifier)
    finally:
        signer.close()
    payer = str(keypair.pubkey())
    built = gateway.build_for_wallet(info, offer, blockhash, payer, rpc, identifier)
    sdk_tx = VersionedTransaction.from_bytes(base64.b64decode(by_sdk.transaction_b64))
    wallet_tx = VersionedTransaction.from_bytes(base64.b64decode(built.transaction_b64))
    assert wallet_tx.message.account_keys == sdk_tx.message.account_keys
    assert wallet_tx.message.header == sdk_tx.message.header
    assert str(wallet_tx.message.recent_blockhash) == blockhash
    pairs = list(zip(sdk_tx.message.instructions, wallet_tx.message.instructions, strict=True))
    assert len(pairs) == 4  # compute limit, compute price, TransferChecked, memo
    for sdk_ix, wallet_ix in pairs[:3]:
        assert bytes(sdk_ix) == bytes(wallet_ix)
    assert len(bytes(pairs[3][0].data)) == len(bytes(pairs[3][1].data)) == 32  # memo nonces
    assert wallet_tx.signatures[1] == Signature.default()  # nothing signed by the server
    signed = TestWallet(keypair).sign(built.transaction_b64, "solana:devnet")
    wrapped = gateway.wrap_signed(built, signed, payer, identifier)
    assert wrapped.header_name == by_sdk.header_name == "PAYMENT-SIGNATURE"
    mine, theirs = (json.loads(base64.b64decode(p.header_value)) for p in (wrapped, by_sdk))
    assert mine["payload"]["transaction"] == signed
    del mine["payload"], theirs["payload"]
    assert mine == theirs
