"""The dashboard pages render the ledger; bad input is a 400 page; the export streams."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import backup_events


@pytest.fixture()
def logged_in(client, auth, demo):
    auth.login()
    return client


def _payment_id(client, bearer, **filters):
    qs = "&".join(f"{k}={v}" for k, v in filters.items())
    return client.get(f"/api/v1/payments?{qs}", headers=bearer).json["items"][0]["payment_id"]


def test_overview_shows_balances_banner_breakers_and_live_panel(logged_in):
    page = logged_in.get("/").get_data(as_text=True)
    assert 'data-test="balance-USDC">0.008<' in page
    assert 'data-test="balance-CASH">1.25<' in page
    assert "Low balance:" in page and "/_harness/fund" in page
    assert "seller:127.0.0.1:8402" in page and "b-closed" in page
    assert 'hx-trigger="every 3s"' in page
    assert "vendor/chartjs/chart.umd.min.js" in page
    cards = logged_in.get("/overview/cards").get_data(as_text=True)
    assert "<html" not in cards and "SELLER_5XX" in cards


def test_spend_chart_data_per_day_and_asset(logged_in):
    body = logged_in.get("/overview/spend.json").json
    assert set(body["series"]) == {"USDC", "CASH"}
    total = sum(sum(v) for v in body["series"].values())
    assert total == pytest.approx(12 / 4 * (0.010 + 0.025 + 0.050 + 0.020))


def test_payment_detail_links_the_explorer_and_the_harness(logged_in, bearer):
    pid = _payment_id(logged_in, bearer)
    page = logged_in.get(f"/payments/{pid}").get_data(as_text=True)
    assert re.search(r"https://explorer\.solana\.com/tx/\w+\?cluster=devnet", page)
    assert re.search(r"http://127\.0\.0\.1:8899/_harness/tx/\w+", page)
    assert "FINALIZED" in page and "Settlement receipt" in page and "&#34;success&#34;" in page


def test_request_detail_shows_retries_classification_and_data(logged_in, bearer):
    failed = logged_in.get("/api/v1/requests?status=FAILED", headers=bearer).json["items"][0]
    page = logged_in.get(f"/requests/{failed['id']}").get_data(as_text=True)
    assert "2.0 s" in page and "4.0 s" in page and "SELLER_5XX" in page
    paid = logged_in.get("/api/v1/requests?status=ACCESSED", headers=bearer).json["items"][0]
    page = logged_in.get(f"/requests/{paid['id']}").get_data(as_text=True)
    assert "&#34;sample&#34;: 11" in page and "&#34;scheme&#34;: &#34;exact&#34;" in page


def test_lists_filter_and_paginate(logged_in):
    page = logged_in.get("/payments?currency=CASH&limit=2").get_data(as_text=True)
    assert page.count("/payments/") >= 2 and 'rel="next"' in page
    audit = logged_in.get("/audit?event_type=CIRCUIT_BREAKER&severity=WARNING").get_data(
        as_text=True
    )
    assert audit.count('data-test="audit-row"') == 1
    searched = logged_in.get("/audit?q=facilitator").get_data(as_text=True)
    assert searched.count('data-test="audit-row"') == 1
    requests = logged_in.get("/requests?status=PAYMENT_REQUIRED").get_data(as_text=True)
    assert "/api/arbitrage-signals" in requests and "0.01" in requests


@pytest.mark.parametrize(
    "url",
    ["/payments?status=nope", "/audit?since=tomorrow", "/requests?limit=-1", "/payments/xyz"],
)
def test_bad_input_is_a_400_page(logged_in, url):
    answer = logged_in.get(url)
    assert answer.status_code == 400
    assert "<h1>400 Bad Request</h1>" in answer.get_data(as_text=True)


def test_unknown_detail_is_404_page(logged_in):
    answer = logged_in.get("/requests/00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404


def test_autonomy_form_needs_csrf(logged_in, auth, bearer):
    agent_id = logged_in.get("/api/v1/agents", headers=bearer).json["items"][0]["id"]
    url = f"/agents/{agent_id}/autonomy"
    assert logged_in.post(url, data={"level": "PHASE2"}).status_code == 400
    token = auth.csrf("/")
    done = logged_in.post(url, data={"level": "PHASE2", "csrf_token": token, "next": "/audit"})
    assert done.status_code == 302 and done.headers["Location"] == "/audit"
    audit = logged_in.get("/audit?event_type=AGENT_DECISION").get_data(as_text=True)
    assert "dashboard:admin" in audit


def test_export_jsonl_and_csv_with_filters(logged_in):
    answer = logged_in.get("/export/download?format=jsonl&api_type=KNOWLEDGE_DATA")
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.mimetype == "application/x-ndjson"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]
    assert len(rows) == 6 and {r["api_type"] for r in rows} == {"KNOWLEDGE_DATA"}
    assert rows[0]["data"]["sample"] == 2
    answer = logged_in.get("/export/download?format=csv&endpoint=/api/market-feed")
    table = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [json.loads(r["data"])["sample"] for r in table] == [0, 4, 8]
    assert logged_in.get("/export").status_code == 200
    assert logged_in.get("/export/download?format=pdf").status_code == 400


def test_api_export_with_bearer(client, demo, bearer):
    answer = client.get("/api/v1/export?since=2000-01-01", headers=bearer)
    assert len(answer.get_data(as_text=True).splitlines()) == 12


def test_static_assets_are_served(logged_in):
    page = logged_in.get("/").get_data(as_text=True)
    paths = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    assert any(p.endswith("htmx.min.js") for p in paths) and len(paths) >= 4
    for path in paths:
        answer = logged_in.get(path)
        assert answer.status_code == 200, path
        answer.close()


def test_backup_events_have_no_agent_and_show_in_the_trail(app, logged_in, bearer):
    with app.app_context(), Session(db.engine) as session:
        backup_events.record(session, {"outcome": "failed", "error": "upload failed: NoSuchBucket"})
    page = logged_in.get("/audit?event_type=BACKUP").get_data(as_text=True)
    assert page.count('data-test="audit-row"') == 1 and "— (ledger)" in page
    api = logged_in.get("/api/v1/audit-events?event_type=BACKUP", headers=bearer).json["items"]
    assert [(e["agent_id"], e["severity"], e["details"]["outcome"]) for e in api] == [
        (None, "ERROR", "failed")
    ]
