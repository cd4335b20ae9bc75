"""Server time of the overview, payments and audit pages (``autopay bench dashboard``).

In a scratch database (``<name>_dashbench``, dropped afterwards unless
``--keep``) it times each page with an empty ledger (the baseline), then fills
100,000 paid requests, one every 30 s back from now (plus one failed request
with a classification and three retries per 50 paid ones, a balance read and
three circuit breakers) and 1,000,000 audit events and times them again: p50/p95
over RUNS requests through the WSGI app (no network), with a logged-in session.
With several sizes (``--payments 100000,1000000``) the same ledger grows a longer
history and the pages are timed at each: flat times show that no page reads the
ledger in full. It then prints the plan of each overview statement
(``EXPLAIN``), which should name an index.
"""

from __future__ import annotations

import re
import secrets
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from autopay_app import create_app
from autopay_app.config import Settings
from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars
from autopay_app.devtools.bench import ledger as ledger_bench
from autopay_app.extensions import db
from autopay_app.ledger import overview
from autopay_app.ledger.queries import explain

PASSWORD = secrets.token_urlsafe(16)
CHUNK = 100_000
#: p50 and p95 in ms, per page.
Timings = dict[str, tuple[float, float]]
PAGES = (
    ("overview", "/"),
    ("overview cards", "/overview/cards"),
    ("spend chart", "/overview/spend.json"),
    ("payments list", "/payments"),
    ("audit trail", "/audit"),
)
FILL_AGENT = """
INSERT INTO agents (name, autonomy_level, wallet_address)
VALUES ('dashbench', 'PHASE1', 'DashBench1111111111111111111111111111111111')
"""
#: Paid requests ``lo`` .. ``hi``, one every 30 s back from now (a bigger ledger is a
#: longer history: the overview's window holds the same rows).
FILL_PAYMENTS = """
WITH a AS (SELECT id FROM agents WHERE name = 'dashbench'), r AS (
  INSERT INTO api_requests (agent_id, endpoint, url, api_type, http_status, status, latency_ms,
                            data_accessed, created_at)
  SELECT a.id, '/api/market-feed', 'http://127.0.0.1:8402/api/market-feed', 'MARKET_DATA', 200,
         'ACCESSED', 40, jsonb_build_object('i', g), now() - make_interval(secs => g * 30)
  FROM a, generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
  RETURNING id, agent_id, created_at
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
  FROM a, generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
  RETURNING id, agent_id, created_at
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


def _logged_in() -> FlaskClient:
    """A test client logged in through the form, as a browser is."""
    client = current_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    answer = client.post(
        "/login", data={"password": PASSWORD, "csrf_token": token.group(1) if token else ""}
    )
    if answer.status_code != 302:
        raise click.ClickException(f"cannot log in to the dashboard: {answer.status_code}")
    return client


def _time_pages(runs: int) -> Timings:
    client = _logged_in()
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
class Size:
    """Page times at one size of the ledger, and the overview statements' plans there."""

    payments: int
    audit_events: int
    timings: Timings
    plans: list[tuple[str, list[str]]]


@dataclass(frozen=True)
class Figures:
    """Page times (p50, p95 in ms) with an empty ledger and at each size."""

    empty: Timings
    sizes: list[Size]


def _grow(engine: sa.Engine, have: int, payments: int, audit_rows: int, progress: Bars) -> int:
    """Add paid requests ``have + 1 .. payments`` (with one failure per 50, three retries
    each), top ``audit_events`` up to ``audit_rows``; returns the audit events there are."""
    with progress("filling payments", total=payments - have, unit="payments") as bar:
        for lo in range(have + 1, payments + 1, CHUNK):
            hi = min(payments, lo + CHUNK - 1)
            with engine.begin() as conn:
                conn.execute(sa.text(FILL_PAYMENTS), {"lo": lo, "hi": hi})
                first, last = (lo + 49) // 50, hi // 50  # one failure per 50 paid
                if first <= last:
                    conn.execute(sa.text(FILL_FAILURES), {"lo": first, "hi": last})
            bar.advance(hi - lo + 1)
    with progress("filling audit_events", total=audit_rows, unit="rows") as bar:
        ledger_bench.fill_audit(engine, audit_rows, bar.advance)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        return int(conn.scalar(sa.text("SELECT count(*) FROM audit_events")) or 0)


def run(
    base_url: str,
    cfg: Settings,
    payments: list[int],
    audit_rows: int,
    runs: int,
    progress: Bars,
    *,
    keep: bool = False,
) -> Figures:
    """Time the dashboard pages empty, then at each size of ``payments`` (one ledger,
    grown) with at least ``audit_rows`` audit events, in a scratch database (kept with
    ``keep``)."""
    sizes = []
    with scratch.scratch_database(base_url, "dashbench", keep=keep) as url:
        settings = replace(cfg, premium_api_url="http://127.0.0.1:9", admin_password=PASSWORD)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "AUTOPAY_SETTINGS": settings})
        with app.app_context():
            empty = _time_pages(runs)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(FILL_AGENT))
            conn.execute(sa.text(FILL_STATE))
        have = 0
        for size in sorted(set(payments)):
            events = _grow(engine, have, size, audit_rows, progress)
            have = size
            with app.app_context():
                timings = _time_pages(runs)
                db.engine.dispose()
            sizes.append(Size(size, events, timings, _plans(engine)))
        engine.dispose()
        if keep:
            click.echo(f"kept the scratch database: {url}", err=True)
    return Figures(empty, sizes)


def report(figures: Figures, runs: int) -> None:
    """The page table at each size against the empty-ledger baseline, then the
    overview's plans at the largest size."""
    for size in figures.sizes:
        _report(figures.empty, size, runs)
    _report_plans(figures.sizes[-1].plans)


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


def _report(empty: Timings, size: Size, runs: int) -> None:
    full = size.timings
    click.echo(
        f"\ndashboard pages, {size.payments:,} payments and {size.audit_events:,} audit events"
    )
    click.echo(f"server time in ms over {runs} requests (WSGI, logged in)")
    click.echo(f"  {'page':<15} {'p50':>8} {'p95':>8} {'empty p50':>10} {'ratio':>7}")
    for page, (p50, p95) in full.items():
        base = empty[page][0]
        click.echo(f"  {page:<15} {p50:8.1f} {p95:8.1f} {base:10.1f} {p50 / base:6.1f}x")
    click.echo("  (target: p95 < 100 ms each; ratio = full ledger p50 / empty ledger p50)")
