"""Fixtures of the wallet browser tests: the real harness and mock API, the app with its
agent (funded as ``autopay demo`` funds it), and a test wallet registered in the page."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from autopay_app import create_app
from tests.browser.conftest import serve
from tests.browser.wallet_double import TestWallet


@dataclass
class Stack:
    base: str
    harness: Any
    api: Any
    app: Any
    agent: Any


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Iterator[tuple[Any, Any]]:
    from harness.testing import run_harness
    from mock_premium_api.testing import run_mock_api

    with (
        run_harness(tmp_path_factory.mktemp("harness"), slot_ms=20) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        yield h, api


@pytest.fixture()
def agent_funds() -> dict[str, Any]:
    """What the agent holds at the start (a test module may override this fixture)."""
    return {"sol": 1, "usdc": 1, "cash": 1}


@pytest.fixture()
def app_config() -> dict[str, Any]:
    """Extra Flask configuration of the app (a test module may override this fixture)."""
    return {}


@pytest.fixture()
def stack(services, database_url, settings, tmp_path, agent_funds, app_config) -> Iterator[Stack]:
    harness, api = services
    settings = replace(
        settings,
        solana_rpc_url=harness.rpc_url,
        facilitator_url=harness.facilitator_url,
        premium_api_url=api.url,
        cash_mint=harness.cash_mint,
        keypair_path=tmp_path / "agent.json",
        agent_name="wallet-agent",
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_SETTINGS": settings,
            "AUTOPAY_AGENT_OPTIONS": {"retry_base": 0.01, "http_timeout": 5.0},
            **app_config,
        }
    )
    with app.app_context():
        from autopay_app.agent.runtime import default_agent

        agent = default_agent()
        if agent_funds:
            harness.fund(agent.address, **agent_funds)
        agent.refresh_balances()
    for base in serve(app):
        yield Stack(base, harness, api, app, agent)
    with app.app_context():
        from autopay_app.extensions import db

        for running in set(app.extensions.get("autopay_agents", {}).values()):
            running.close()
        db.engine.dispose()
    # The x402 SDK's SVM client leaves a solana-py Client per payment unclosed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture()
def test_wallet(services) -> TestWallet:
    """A funded test wallet (1 SOL for fees, 5 USDC, 5 CASH): what a person holds."""
    harness, _ = services
    wallet = TestWallet()
    harness.fund(wallet.address, sol=1, usdc=5, cash=5)
    return wallet


def connect(page: Any, wallet: TestWallet) -> None:
    """Press "Connect <wallet>" and wait for its address and balances on the page."""
    page.click(f"[data-test=wallet-connect][data-wallet='{wallet.name}']")
    page.wait_for_selector(f"[data-test=wallet-address]:text('{wallet.address}')")
    from playwright.sync_api import expect

    expect(page.locator("[data-test=wallet-USDC]")).not_to_have_text("—")
