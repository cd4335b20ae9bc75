"""``autopay demo``: everything on one machine, the agent at work, the dashboard to watch.

Starts what is not already running (the embedded PostgreSQL starts on the first
query; the harness and the mock API as child processes), migrates, funds the
agent and the seller from the harness faucet, runs N autonomous requests over
the seller's catalog with a progress bar, prints a summary and the dashboard
URL, and keeps serving until Ctrl-C (or exits at once with ``--exit``). The
child processes it started are stopped on the way out, by PID.
"""

from __future__ import annotations

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
from autopay_app.cli.serve import ensure_admin_password
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


def fund_local(rpc_url: str, agent: Any, items: list[dict[str, Any]]) -> None:
    """On the local harness: the seller's token accounts exist, the agent has funds."""
    from harness.faucet import FundError, fund_via_http

    sellers = {a["payTo"] for item in items for a in item.get("accepts", [])}
    try:
        for seller in sellers:
            fund_via_http(rpc_url, seller, usdc=0, cash=0)
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
        click.progressbar(length=count, label="agent buying data", show_pos=True) as bar,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        for result in pool.map(agent.fetch, urls):
            summary.add(result)
            bar.update(1)
    summary.seconds = time.perf_counter() - start
    summary.retries = count_retries(agent.session(), summary.results)
    return summary


def serve_dashboard(app: Flask, host: str, port: int) -> Any:
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@click.command("demo")
@click.option("--requests", "count", default=20, show_default=True, type=click.IntRange(0))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
@click.option(
    "--phase",
    type=click.Choice(["1"]),
    default="1",
    show_default=True,
    help="Autonomy level to demonstrate.",
)
@click.option("--exit", "exit_after", is_flag=True, help="Exit after the run (no dashboard).")
@with_appcontext
def demo(count: int, workers: int, phase: str, exit_after: bool) -> None:
    """Start everything, let the agent buy COUNT resources, and serve the dashboard."""
    from autopay_app.agent.runtime import default_agent

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cfg = context.settings()
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
        fund_local(cfg.solana_rpc_url, agent, items)
        summary = run_requests(agent, items, count, workers)
        click.echo("\nsummary\n" + "\n".join("  " + line for line in summary.lines()))
        if exit_after:
            return
        password, generated = ensure_admin_password(app)
        server = serve_dashboard(app, cfg.host, cfg.port)
        click.echo(f"\ndashboard: http://{cfg.host}:{server.server_port}/")
        click.echo(f"  password: {password}" if generated else "  password: AUTOPAY_ADMIN_PASSWORD")
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


def spend_of(summary: Summary) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for r in summary.results:
        if r.status == "ACCESSED" and r.asset:
            out[r.asset] = out.get(r.asset, Decimal(0)) + (r.amount or Decimal(0))
    return out
