"""``autopay demo``: everything on one machine, the agent at work, the dashboard to watch.

Starts what is not already running (the embedded PostgreSQL starts on the first
query; the harness and the mock API as child processes), migrates, funds the
agent from the harness faucet, runs N autonomous requests over
the seller's catalog with progress on stderr, prints a summary and the dashboard
URL, and keeps serving until Ctrl-C (or exits at once with ``--exit``). The
child processes it started are stopped on the way out, by PID.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import click
import flask_migrate
import requests
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import make_server

from autopay_app.cli import context, processes
from autopay_app.cli.demo_report import Summary, count_retries
from autopay_app.cli.serve import echo_api_token, ensure_admin_password
from autopay_app.errors import AutopayError

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _port(url: str) -> str:
    return str(urlsplit(url).port or 80)


def ensure_harness(home: Any, rpc_url: str, facilitator_url: str) -> processes.Service:
    if processes.answers(rpc_url, json_rpc=True):
        return processes.Service(
            "harness", {"rpc_url": rpc_url, "facilitator_url": facilitator_url}
        )
    if urlsplit(rpc_url).hostname not in LOCAL_HOSTS:
        raise AutopayError(f"the Solana RPC at {rpc_url} does not answer")
    click.echo(f"starting the Devnet harness on {rpc_url} ...")
    return processes.start(
        "harness",
        [
            "harness",
            "serve",
            "--rpc-port",
            _port(rpc_url),
            "--facilitator-port",
            _port(facilitator_url),
            "--state",
            str(home / "harness-state"),
        ],
        "HARNESS READY ",
        {},
    )


def ensure_mock_api(api_url: str, harness: processes.Service, cash_mint: str) -> processes.Service:
    if processes.answers(api_url, "/healthz"):
        return processes.Service("mock-api", {"url": api_url})
    if urlsplit(api_url).hostname not in LOCAL_HOSTS:
        raise AutopayError(f"the premium API at {api_url} does not answer")
    click.echo(f"starting the mock premium API on {api_url} ...")
    env = {
        "X402_FACILITATOR_URL": harness.info["facilitator_url"],
        "SOLANA_RPC_URL": harness.info["rpc_url"],
        "CASH_MINT": cash_mint,
    }
    return processes.start(
        "mock-api", ["mock_premium_api", "--port", _port(api_url)], "MOCK API READY ", env
    )


def catalog_items(api_url: str) -> list[dict[str, Any]]:
    body = requests.get(api_url + "/api/catalog", timeout=5).json()
    items = body.get("items", body) if isinstance(body, dict) else body
    if not items:
        raise AutopayError(f"the catalog at {api_url} is empty")
    return list(items)


def fund_local(rpc_url: str, agent: Any) -> None:
    """On the local harness, the agent gets funds (the seller makes sure of its own accounts)."""
    from harness.faucet import FundError, fund_via_http

    try:
        have = agent.chain.balances(agent.address)
        if have.usdc < 1 or have.cash < 1:
            fund_via_http(rpc_url, agent.address, sol=1, usdc=10, cash=10)
            click.echo(f"funded the agent {agent.address}: 10 USDC, 10 CASH, 1 SOL")
    except FundError as exc:
        click.echo(f"no faucet at {rpc_url} ({exc}): fund {agent.address} yourself")


def run_requests(agent: Any, items: list[dict[str, Any]], count: int, workers: int) -> Summary:
    summary = Summary()
    urls = [items[i % len(items)]["resource"] for i in range(count)]
    start = time.perf_counter()
    with (
        context.progress("agent buying data", total=count, counters=("accessed", "failed")) as bar,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        for result in pool.map(agent.fetch, urls):
            summary.add(result)
            bar.advance()
            if result.status in ("ACCESSED", "FAILED"):
                bar.count(result.status.lower())
    agent.wait_verified()  # the summary and the dashboard show the payments verified
    summary.seconds = time.perf_counter() - start
    summary.retries = count_retries(agent.session(), summary.results)
    return summary


#: Phase 3 demo weights: how much the agent values each kind of data.
WEIGHTS = {
    "/api/arbitrage-signals": "3",
    "/api/market-feed": "2",
    "/api/knowledge/insights": "1.5",
    "/api/knowledge/sentiment": "1",
}


def run_phase3(
    app: Flask, agent: Any, api_url: str, items: list[dict[str, Any]], minutes: float, tick_s: float
) -> None:
    """Put the agent at PHASE3 over the catalog and let the prioritizer decide for a while."""
    from dataclasses import replace

    from autopay_app.ledger import agents as agent_rows
    from autopay_app.ledger import monitoring
    from autopay_app.models import AutonomyLevel
    from autopay_app.scheduler import config as scheduler_config
    from autopay_app.scheduler.autonomy import describe, run_autonomously
    from autopay_app.scheduler.tick import import_catalog

    agent_rows.set_autonomy(
        agent.session(), agent.agent_id, AutonomyLevel.PHASE3, "autopay demo --phase 3"
    )
    import_catalog(agent, api_url)
    for item in items:
        weight = WEIGHTS.get(str(item.get("path")))
        if weight:
            monitoring.upsert_api(
                agent.session(), agent.agent_id, str(item["resource"]), weight=Decimal(weight)
            )
    cfg = replace(scheduler_config.load(), tick_s=tick_s)
    click.echo(
        f"Phase 3: the agent decides on its own for {minutes:g} min, a tick every {tick_s:g} s ..."
    )

    def progress(result: Any) -> None:
        bought = ", ".join(d.details()["api"].rsplit("/", 1)[-1] for d in result.bought)
        click.echo(
            f"  {result.at:%H:%M:%S} tick: {len(result.bought)} bought"
            f"{' (' + bought + ')' if bought else ''}, "
            f"{len(result.decisions) - len(result.bought)} skipped, "
            f"budget left {result.tokens_left:.4f}"
        )

    decisions = run_autonomously(app, agent, minutes=minutes, progress=progress, cfg=cfg)
    click.echo("\n" + describe(decisions))


def serve_dashboard(app: Flask, host: str, port: int) -> Any:
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the demo cleanly (children too), even when the
    shell that started it ignores SIGINT (background jobs)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


@click.command("demo")
@click.option("--requests", "count", default=20, show_default=True, type=click.IntRange(0))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
@click.option(
    "--phase",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="1: COUNT requests over the catalog; 3: the agent decides for --minutes.",
)
@click.option(
    "--minutes",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 1440),
    help="Phase 3: how long the agent runs on its own.",
)
@click.option(
    "--tick",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Phase 3: seconds between the prioritizer's decisions.",
)
@click.option("--exit", "exit_after", is_flag=True, help="Exit after the run (no dashboard).")
@with_appcontext
def demo(
    count: int, workers: int, phase: str, minutes: float, tick: float, exit_after: bool
) -> None:
    """Start everything, let the agent buy COUNT resources, and serve the dashboard."""
    from autopay_app.agent.runtime import default_agent

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cfg = context.settings()
    _stop_on_signals()
    flask_migrate.upgrade()
    started: list[processes.Service] = []
    server = None
    try:
        harness = ensure_harness(cfg.home, cfg.solana_rpc_url, cfg.facilitator_url)
        started.append(harness)
        cash_mint = harness.info.get("cash_mint", cfg.cash_mint)
        started.append(ensure_mock_api(cfg.premium_api_url, harness, cash_mint))
        items = catalog_items(cfg.premium_api_url)
        agent = default_agent()
        agent.reconcile(older_than_s=0)
        fund_local(cfg.solana_rpc_url, agent)
        started += processes.start_worker()
        if phase == "3":
            run_phase3(app, agent, cfg.premium_api_url, items, minutes, tick)
        else:
            summary = run_requests(agent, items, count, workers)
            click.echo("\nsummary\n" + "\n".join("  " + line for line in summary.lines()))
        agent.wait_refreshed()  # the dashboard opens on the balances after the run
        if exit_after:
            return
        password, generated = ensure_admin_password(app)
        server = serve_dashboard(app, cfg.host, cfg.port)
        click.echo(f"\ndashboard: http://{cfg.host}:{server.server_port}/")
        click.echo(f"  password: {password}" if generated else "  password: AUTOPAY_ADMIN_PASSWORD")
        echo_api_token(app)
        click.echo("serving until Ctrl-C")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        if server is not None:
            server.shutdown()
        for service in reversed(started):
            processes.stop(service)
