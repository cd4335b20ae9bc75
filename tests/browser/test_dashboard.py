"""The dashboard in a real browser, on the demo data of ``autopay seed``."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from autopay_app.devtools import seed
from autopay_app.extensions import db
from tests.browser.conftest import login, serve

pytestmark = pytest.mark.browser


@pytest.fixture()
def base(live_app):
    with live_app.app_context(), Session(db.engine) as session:
        seed.seed_demo(session)
    yield from serve(live_app)


def test_login_and_see_balances_and_low_balance_banner(page, base):
    page.goto(base + "/payments")
    assert "/login" in page.url
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.text_content(".flash.error") == "Wrong password."
    login(page, base)
    assert page.text_content("[data-test=balance-USDC]") == "0.008"
    assert page.text_content("[data-test=balance-CASH]") == "1.25"
    assert "Low balance" in page.text_content("[data-test=low-balance]")
    page.wait_for_function("document.querySelector('#spend-chart').width > 0")
    page.wait_for_function("window.htmx !== undefined && window.Chart !== undefined")
    page.shot("overview")


def test_payment_detail_has_the_explorer_link(page, base):
    login(page, base)
    page.click("nav >> text=Payments")
    page.click("table tbody tr:first-child td:first-child a")
    link = page.get_attribute("[data-test=explorer-link]", "href")
    assert link.startswith("https://explorer.solana.com/tx/") and link.endswith("?cluster=devnet")
    assert "/_harness/tx/" in page.get_attribute("[data-test=harness-link]", "href")
    page.shot("payment")


def test_filter_the_audit_trail(page, base):
    login(page, base)
    page.click("nav >> text=Audit")
    page.wait_for_url("**/audit")
    everything = page.locator("[data-test=audit-row]").count()
    page.select_option("select[name=event_type]", "CIRCUIT_BREAKER")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**event_type=CIRCUIT_BREAKER**")
    assert page.locator("[data-test=audit-row]").count() == 3 < everything
    page.fill("input[name=q]", "facilitator")
    page.select_option("select[name=event_type]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=facilitator**")
    assert page.locator("[data-test=audit-row]").count() == 1
    page.shot("audit")


def test_switch_autonomy_level(page, base):
    login(page, base)
    page.select_option("form.autonomy select[name=level]", "PHASE2")
    page.click("form.autonomy button")
    page.wait_for_selector(".flash.ok")
    assert "PHASE2" in page.text_content(".card.agent header")
    page.shot("autonomy")


def test_no_page_breaks_the_content_security_policy(page, base):
    """Every page, its live updates, its chart and its agent switch run under the CSP.

    The detector is checked first: a script injected inline is refused and reported.
    """
    from tests.browser.conftest import csp_errors

    page.goto(base + "/login")
    page.evaluate(
        "document.head.appendChild(Object.assign(document.createElement('script'),"
        " {textContent: 'window.injected = 1'}))"
    )
    page.wait_for_function("true")
    assert page.evaluate("window.injected") is None
    assert csp_errors(page.console_errors), "the CSP detector saw nothing"
    page.console_errors.clear()
    login(page, base)
    with page.expect_response(lambda r: "/overview/cards" in r.url):  # htmx polls
        pass
    page.wait_for_function("document.querySelector('#spend-chart').width > 0")
    for name in ("Requests", "Payments", "Audit", "Interactive", "Autonomy", "Export"):
        page.click(f"nav >> text={name}")
        page.wait_for_load_state("networkidle")
    page.click("nav >> text=Payments")
    page.click("table tbody tr:first-child td:first-child a")
    page.wait_for_load_state("networkidle")
    page.click("nav >> text=Autonomy")
    options = page.locator("select[data-autosubmit] option")
    if options.count() > 1:  # the agent switch submits through forms.js, not an inline handler
        value = options.nth(1).get_attribute("value")
        page.select_option("select[data-autosubmit]", value)
        page.wait_for_url(f"**agent_id={value}**")
    assert not csp_errors(page.console_errors), csp_errors(page.console_errors)
    page.shot("csp")
