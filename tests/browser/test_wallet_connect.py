"""A wallet in the browser through the Wallet Standard: discovered, connected (Devnet only),
its balances read from the chain, its account changes and disconnects followed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.browser import wallet_stack
from tests.browser.conftest import login
from tests.browser.wallet_double import TestWallet
from tests.browser.wallet_stack import connect
from tests.e2e.interop import chain_reads

pytestmark = pytest.mark.browser
agent_funds, services, stack = wallet_stack.agent_funds, wallet_stack.services, wallet_stack.stack
app_config = wallet_stack.app_config
test_wallet = wallet_stack.test_wallet


def test_connect_shows_the_address_balances_and_cluster(page, stack, test_wallet):
    test_wallet.install(page)
    login(page, stack.base)
    page.wait_for_selector("[data-test=wallet-connect]")
    page.shot("discovered")
    connect(page, test_wallet)
    rpc = stack.harness.rpc_url
    usdc = chain_reads.token_balance(rpc, test_wallet.address, stack.harness.usdc_mint)
    assert Decimal(page.text_content("[data-test=wallet-USDC]")) == usdc == Decimal(5)
    assert Decimal(page.text_content("[data-test=wallet-CASH]")) == Decimal(5)
    assert Decimal(page.text_content("[data-test=wallet-SOL]")) == Decimal(1)
    cluster = page.text_content("[data-test=wallet-cluster]")
    assert "local harness" in cluster and "solana:devnet" in cluster
    assert page.is_hidden("[data-test=wallet-connect]")
    page.shot("connected")

    # Live: funds arriving on chain show up without a reload.
    stack.harness.fund(test_wallet.address, usdc=2)
    page.wait_for_selector("[data-test=wallet-USDC]:text-is('7')", timeout=15_000)

    # Another page of the dashboard reconnects silently (the wallet remembers the site).
    page.click("nav >> text=Interactive")
    page.wait_for_selector(f"[data-test=wallet-address]:text('{test_wallet.address}')")
    page.shot("reconnected")

    # The wallet disconnects (locked, or the site revoked in the wallet): the page follows.
    page.evaluate("window.__testWallet.disconnect()")
    page.wait_for_selector("[data-test=wallet-error]:text('The wallet disconnected.')")
    assert page.is_hidden("[data-test=wallet-connected]")
    assert page.is_visible("[data-test=wallet-connect]")
    page.shot("disconnected")


def test_a_wallet_on_mainnet_only_is_refused(page, stack, services):
    harness, _ = services
    wallet = TestWallet(name="Mainnet Wallet", chains=("solana:mainnet",))
    wallet.install(page)
    login(page, stack.base)
    page.click("[data-test=wallet-connect][data-wallet='Mainnet Wallet']")
    error = page.wait_for_selector("[data-test=wallet-error]:visible")
    text = error.text_content()
    assert "solana:mainnet" in text and "Devnet only" in text and "refuses mainnet" in text
    assert page.is_hidden("[data-test=wallet-connected]")
    assert page.evaluate("window.__testWallet.accounts.length") == 0  # disconnected again
    page.shot("mainnet-refused")


def test_balances_endpoint_refuses_a_bad_address(page, stack):
    login(page, stack.base)
    for bad in ("", "not-an-address", "0" * 44, "x" * 500):
        answer = page.request.get(f"{stack.base}/wallet/balances", params={"address": bad})
        assert answer.status == 400, bad
        assert "address: not a Solana address" in answer.text()
