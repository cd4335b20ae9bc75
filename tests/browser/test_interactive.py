"""Interactive mode end to end: a real harness, mock API and agent, approved in the browser."""

from __future__ import annotations

import gc
import re
import warnings
from dataclasses import replace

import pytest

from autopay_app import create_app
from tests.browser.conftest import login, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
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
def base(stack, database_url, settings, tmp_path):
    harness, api = stack
    settings = replace(
        settings,
        solana_rpc_url=harness.rpc_url,
        facilitator_url=harness.facilitator_url,
        premium_api_url=api.url,
        cash_mint=harness.cash_mint,
        keypair_path=tmp_path / "agent.json",
        agent_name="browser-agent",
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_SETTINGS": settings,
            "AUTOPAY_AGENT_OPTIONS": {"retry_base": 0.01, "http_timeout": 5.0},
        }
    )
    with app.app_context():
        from autopay_app.agent.runtime import default_agent

        agent = default_agent()
        harness.fund(agent.address, sol=1, usdc=1, cash=1)
        agent.refresh_balances()
    yield from serve(app)
    with app.app_context():
        from autopay_app.extensions import db

        for running in set(app.extensions.get("autopay_agents", {}).values()):
            running.close()
        db.engine.dispose()
    # The x402 SDK's SVM client opens a solana-py Client per payment and never closes it
    # (x402/mechanisms/svm/exact/client.py): collect its socket here, where it is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _ask(page, path: str) -> None:
    page.click("nav >> text=Interactive")
    page.click(f"[data-test=catalog-item][data-path='{path}'] button")
    page.wait_for_selector("[data-test=approval]")


def test_approve_pays_and_shows_data_then_decline_pays_nothing(page, base):
    login(page, base)
    _ask(page, "/api/market-feed")
    before = float(page.text_content("[data-test=ibal-USDC]"))
    price = page.text_content("[data-test=approval-price]")
    page.shot("approval-card")
    page.click("[data-test=approval] button.approve")
    page.wait_for_selector("[data-test=result-data]", timeout=60_000)
    assert page.locator("[data-test=result-payment]").count() == 1
    page.shot("approved")
    amount, asset = price.split()
    page.reload()
    after = float(page.text_content(f"[data-test=ibal-{asset}]"))
    if asset == "USDC":
        assert after == pytest.approx(before - float(amount))
    page.click("[data-test=result-payment]")
    link = page.get_attribute("[data-test=explorer-link]", "href")
    assert re.match(r"https://explorer\.solana\.com/tx/\w+\?cluster=devnet$", link)
    page.shot("payment")

    _ask(page, "/api/knowledge/sentiment")
    page.click("[data-test=approval] button.decline")
    page.wait_for_selector("[data-test=no-payment]")
    assert "POLICY_DENIED" in page.text_content("[data-test=result]")
    assert page.locator("[data-test=approval]").count() == 0
    page.shot("declined")


def test_a_request_quoted_elsewhere_appears_live_with_its_expiry(page, base, settings):
    import requests

    from autopay_app.secrets import load_or_create_api_token

    login(page, base)
    page.click("nav >> text=Interactive")
    page.wait_for_selector("[data-test=no-pending]")
    token, _ = load_or_create_api_token(None, settings.home)  # as `autopay serve` makes it
    bearer = {"Authorization": f"Bearer {token}"}
    items = requests.get(f"{base}/api/v1/catalog", headers=bearer, timeout=10).json()["items"]
    feed = next(i["resource"] for i in items if i["path"] == "/api/market-feed")
    quoted = requests.post(
        f"{base}/api/v1/quotes",
        json={"agent": "browser-agent", "url": feed},
        headers=bearer,
        timeout=30,
    )
    assert quoted.status_code == 201
    card = f"[data-test=approval][data-request='{quoted.json()['request_id']}']"
    page.wait_for_selector(card, timeout=10_000)  # no reload: the htmx poll brings it
    assert re.fullmatch(r"\d+ s left", page.text_content(f"{card} .countdown"))
    page.shot("live-approval")
    page.click(f"{card} button.decline")
    page.wait_for_selector("[data-test=no-payment]")
