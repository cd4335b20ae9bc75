"""``autopay monitor add|list|remove|set``."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.cli.monitor import monitor
from autopay_app.ledger import monitoring
from autopay_app.web import phase3_panel
from tests.factories import make_agent


def test_add_list_set_remove(app: Flask, session: Session) -> None:
    with session.begin():
        agent = make_agent(session, name="watcher")
    runner = app.test_cli_runner()
    url = "http://127.0.0.1:9/api/market-feed"
    out = runner.invoke(
        monitor,
        ["add", url, "--weight", "3", "--price", "0.02", "--ttl", "30", "--agent", "watcher"],
    )
    assert out.exit_code == 0, out.output
    assert (
        runner.invoke(monitor, ["set", "--daily-budget", "2", "--agent", "watcher"]).exit_code == 0
    )
    listing = runner.invoke(monitor, ["list", "--agent", "watcher"])
    assert listing.exit_code == 0, listing.output
    assert "1 monitored APIs" in listing.output and url in listing.output
    assert "daily budget 2" in listing.output
    rows = monitoring.list_apis(session, agent.id)
    assert [(r.weight, r.price, r.ttl_seconds) for r in rows] == [(Decimal(3), Decimal("0.02"), 30)]
    bad = runner.invoke(monitor, ["set", "--daily-budget", "lots", "--agent", "watcher"])
    assert bad.exit_code == 2 and "--daily-budget" in bad.output
    assert runner.invoke(monitor, ["add", "ftp://x", "--agent", "watcher"]).exit_code == 2
    assert runner.invoke(monitor, ["remove", url, "--agent", "watcher"]).exit_code == 0
    again = runner.invoke(monitor, ["remove", url, "--agent", "watcher"])
    assert again.exit_code == 1 and "does not monitor" in again.output


def test_set_tick_interval_and_back_to_the_default(app: Flask, session: Session) -> None:
    with session.begin():
        agent = make_agent(session, name="ticker")
    runner = app.test_cli_runner()
    out = runner.invoke(monitor, ["set", "--tick", "90.5", "--agent", "ticker"])
    assert out.exit_code == 0, out.output
    assert "tick_seconds = 90.5" in out.output
    assert phase3_panel.settings_summary(session, agent.id)["tick_seconds"] == "90.5"
    listing = runner.invoke(monitor, ["list", "--agent", "ticker"])
    assert "a tick every 90.5 s" in listing.output
    for bad, why in (("0", "between 1 and 86400"), ("soon", "not a number"), ("1.0001", "3 dec")):
        refused = runner.invoke(monitor, ["set", "--tick", bad, "--agent", "ticker"])
        assert refused.exit_code == 2 and "--tick" in refused.output and why in refused.output
    assert phase3_panel.settings_summary(session, agent.id)["tick_seconds"] == "90.5"
    reset = runner.invoke(monitor, ["set", "--tick", "default", "--agent", "ticker"])
    assert reset.exit_code == 0 and "tick_seconds = default (60 s)" in reset.output
    assert phase3_panel.settings_summary(session, agent.id)["tick_seconds"] is None
    listing = runner.invoke(monitor, ["list", "--agent", "ticker"])
    assert "a tick every 60 s (AUTOPAY_TICK_S)" in listing.output
