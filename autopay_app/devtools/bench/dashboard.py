"""Server time of the overview, payments and audit pages (``autopay bench dashboard``).

In a scratch database (``<name>_dashbench``, dropped afterwards unless
``--keep``) it times each page with an empty ledger (the baseline), then fills
100,000 paid requests (plus one failed request with a classification and three
retries per 50 paid ones, a balance read and three circuit breakers) and
1,000,000 audit events and times them again: p50/p95 over RUNS requests
through the WSGI app (no network), with a logged-in session. It then prints
the plan of each overview statement (``EXPLAIN``), which should name an index.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from autopay_app import create_app
from autopay_app.config import Settings
from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars
from autopay_app.devtools.bench import ledger as ledger_bench
from autopay_app.extensions import db
from autopay_app.ledger import overview
from autopay_app.ledger.queries import explain

#: p50 and p95 in ms, per page.
Timings = dict[str, tuple[float, float]]
PAGES = (
    ("overview", "/"),
    ("overview cards", "/overview/cards"),
    ("spend chart", "/overview/spend.json"),
    ("payments list", "/payments"),
    ("audit trail", "/audit"),
)
FILL_PAYMENTS = """
WITH a AS (
  INSERT INTO agents (name, autonomy_level, wallet_address)
  VALUES ('dashbench', 'PHASE1', 'DashBench1111111111111111111111111111111111') RETURNING id
), r AS (
  INSERT INTO api_requests (agent_id, endpoint, url, api_type, http_status, status, latency_ms,
                            data_accessed, created_at)
  SELECT a.id, '/api/market-feed', 'http://127.0.0.1:8402/api/market-feed', 'MARKET_DATA', 200,
         'ACCESSED', 40, jsonb_build_object('i', g), now() - make_interval(secs => g * 30)
  FROM a, generate_series(1, :n) AS g RETURNING id, agent_id, created_at
)
INSERT INTO payments (api_request_id, agent_id, amount, currency, status, payer_signature,
                      created_at)
SELECT r.id, r.agent_id, 0.01,
       (CASE WHEN random() < 0.5 THEN 'USDC' ELSE 'CASH' END)::payment_currency,
       'VERIFIED', md5(r.id::text) || md5(r.created_at::text), r.created_at
FROM r
"""
#: Failed requests (one per 50 paid), each with a classification and 3 retries.
FILL_FAILURES = """
WITH a AS (SELECT id FROM agents WHERE name = 'dashbench'), r AS (
  INSERT INTO api_requests (agent_id, endpoint, url, api_type, http_status, status, created_at)
  SELECT a.id, '/api/knowledge/insights', 'http://127.0.0.1:8402/api/knowledge/insights',
         'KNOWLEDGE_DATA', 503, 'FAILED', now() - make_interval(secs => g * 1500)
  FROM a, generate_series(1, :n) AS g RETURNING id, agent_id, created_at
), c AS (
  INSERT INTO error_classifications (agent_id, api_request_id, category, retryable, message,
                                     created_at)
  SELECT agent_id, id, 'SELLER_5XX', true, 'seller answered 503', created_at FROM r
)
INSERT INTO retry_attempts (api_request_id, attempt_number, backoff_delay, outcome, created_at)
SELECT r.id, k, make_interval(secs => 2 ^ (k - 1)), 'FAILURE', r.created_at
FROM r, generate_series(1, 3) AS k
"""
FILL_STATE = """
INSERT INTO wallet_balances (agent_id, wallet_address, balance_sol, balance_usdc, balance_cash,
                             threshold, last_checked)
SELECT id, wallet_address, 1, 10, 10, 0.01, now() FROM agents WHERE name = 'dashbench';
INSERT INTO circuit_breakers (name, state)
VALUES ('seller:127.0.0.1:8402', 'CLOSED'), ('rpc', 'CLOSED'), ('facilitator', 'OPEN');
"""


def _time_pages(runs: int) -> Timings:
    client = current_app.test_client()
    with client.session_transaction() as s:
        s["admin"] = True
    out = {}
    for name, path in PAGES:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            answer = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            if answer.status_code != 200:
                raise click.ClickException(f"{path} answered {answer.status_code}")
        cuts = statistics.quantiles(samples, n=100, method="inclusive")
        out[name] = (statistics.median(samples), cuts[94])
    return out


@dataclass(frozen=True)
class Figures:
    """Page times (p50, p95 in ms) empty and full, and the overview statements' plans."""

    empty: Timings
    full: Timings
    plans: list[tuple[str, list[str]]]


def run(
    base_url: str,
    cfg: Settings,
    payments: int,
    audit_rows: int,
    runs: int,
    progress: Bars,
    *,
    keep: bool = False,
) -> Figures:
    """Time the dashboard pages empty, then at ``payments`` payments and ``audit_rows``
    audit events, in a scratch database (kept with ``keep``)."""
    with scratch.scratch_database(base_url, "dashbench", keep=keep) as url:
        settings = replace(cfg, premium_api_url="http://127.0.0.1:9")
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "AUTOPAY_SETTINGS": settings})
        with app.app_context():
            empty = _time_pages(runs)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(FILL_PAYMENTS), {"n": payments})
            conn.execute(sa.text(FILL_FAILURES), {"n": max(1, payments // 50)})
            conn.execute(sa.text(FILL_STATE))
        with progress("filling audit_events", total=audit_rows, unit="rows") as bar:
            ledger_bench.fill_audit(engine, audit_rows, bar.advance)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        plans = _plans(engine)
        engine.dispose()
        with app.app_context():
            full = _time_pages(runs)
            db.engine.dispose()
        if keep:
            click.echo(f"kept the scratch database: {url}", err=True)
    return Figures(empty, full, plans)


def report(figures: Figures, payments: int, audit_rows: int, runs: int) -> None:
    """The page table against the empty-ledger baseline, then the overview's plans."""
    _report(figures.empty, figures.full, payments, audit_rows, runs)
    _report_plans(figures.plans)


def _plans(engine: sa.Engine) -> list[tuple[str, list[str]]]:
    """EXPLAIN of each overview statement, as the page runs them now."""
    since = datetime.now(UTC) - overview.WINDOW
    with Session(engine) as session:
        return [(name, explain(session, q)) for name, q in overview.overview_queries(since)]


def _report_plans(plans: list[tuple[str, list[str]]]) -> None:
    click.echo("\noverview statements (EXPLAIN): indexes used; tables read in full")
    for name, plan in plans:
        text = "\n".join(plan)
        used = sorted(set(re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", text)))
        full = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
        click.echo(f"  {name:<28} {', '.join(used) or 'NO INDEX'}")
        if full:
            click.echo(f"  {'':<28} read in full: {', '.join(full)}")


def _report(empty: Timings, full: Timings, payments: int, audit_rows: int, runs: int) -> None:
    click.echo(f"\ndashboard pages, {payments:,} payments and {audit_rows:,} audit events")
    click.echo(f"server time in ms over {runs} requests (WSGI, logged in)")
    click.echo(f"  {'page':<15} {'p50':>8} {'p95':>8} {'empty p50':>10} {'ratio':>7}")
    for page, (p50, p95) in full.items():
        base = empty[page][0]
        click.echo(f"  {page:<15} {p50:8.1f} {p95:8.1f} {base:10.1f} {p50 / base:6.1f}x")
    click.echo("  (target: p95 < 100 ms each; ratio = full ledger p50 / empty ledger p50)")
