"""The Phase 3 page in a real browser: the panel, adding and removing an API, budgets, tick."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import monitoring
from autopay_app.models import AutonomyLevel
from tests.browser.conftest import login, serve
from tests.factories import make_agent

pytestmark = pytest.mark.browser
FEED = "http://127.0.0.1:8402/api/market-feed"
NEWS = "https://seller.example/api/news"


@pytest.fixture()
def base(live_app):
    with live_app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            agent = make_agent(session, name="phase3", autonomy_level=AutonomyLevel.PHASE3)
        monitoring.ensure_settings(session, agent.id, Decimal(5), Decimal("0.05"), 5)
        monitoring.upsert_api(session, agent.id, FEED, weight=Decimal(2), ttl_seconds=60)
    yield from serve(live_app)


def test_edit_monitored_apis_and_budgets(page, base):
    login(page, base)
    page.click("nav >> text=Autonomy")
    page.wait_for_selector(f"[data-test=monitored-api][data-url='{FEED}']")
    assert "never bought" in page.text_content("[data-test=api-freshness]")
    assert page.locator("[data-test=catalog-error]").count() == 1  # the seller is down here

    form = "[data-test=add-by-url]"
    page.fill(f"{form} input[name=url]", NEWS)
    page.fill(f"{form} input[name=weight]", "3")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(".flash.ok")
    row = f"[data-test=monitored-api][data-url='{NEWS}']"
    assert page.text_content(f"{row} [data-test=api-weight]") == "3.0000"
    page.shot("added")

    page.click(f"[data-test=edit-api][data-url='{NEWS}'] [data-test=remove-api]")
    page.wait_for_selector(".flash.ok")
    assert page.locator(row).count() == 0

    page.fill("input[name=daily_budget]", "9")
    page.click("[data-test=edit-settings] button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "Daily budget 9.000000000" in page.text_content("[data-test=phase3-settings]")
    page.shot("budgets")

    page.fill("[data-test=tick-seconds]", "45")
    page.click("[data-test=edit-settings] button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "every 45 s, this agent's own" in page.text_content("[data-test=tick-interval]")
    assert "a tick every 45 s" in page.text_content("[data-test=phase3-settings]")
    page.fill("[data-test=tick-seconds]", "")
    page.click("[data-test=edit-settings] button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "the scheduler's default" in page.text_content("[data-test=tick-interval]")
    page.shot("tick")
