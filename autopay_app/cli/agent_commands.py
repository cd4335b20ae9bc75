"""Agent commands: fund, fetch, reconcile."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import click
from flask.cli import with_appcontext

from autopay_app.cli import context
from autopay_app.errors import AutopayError
from autopay_app.ledger import queue
from autopay_app.tasks import config as worker_config

#: USDC and CASH both have six decimals; amounts are printed with all of them.
ASSET_DECIMALS = 6


def format_amount(amount: Decimal | None) -> str | None:
    """A token amount as a decimal string with the asset's decimals ("0.010000")."""
    if amount is None:
        return None
    return str(Decimal(amount).quantize(Decimal(1).scaleb(-ASSET_DECIMALS)))


class Amount(click.ParamType):
    """A positive decimal amount (``--max-amount 0.05``)."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number (like 0.05)", param, ctx)
        if not amount.is_finite() or amount <= 0:
            self.fail(f"{value!r} is not above zero", param, ctx)
        return amount


def check_url(url: str) -> None:
    """Refuse, before any ledger row, a URL the agent cannot fetch (as the MCP tools do)."""
    from autopay_app.agent import mcp_target
    from autopay_app.agent.errors import PolicyDenied

    if mcp_target.is_mcp(url):
        try:
            mcp_target.parse(url)
        except PolicyDenied as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from None
    elif not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise click.BadParameter(
            f"{url!r} is not a URL: http(s)://host/... or mcp+http(s)://host/...#tool",
            param_hint="URL",
        )


def build_agent():  # type: ignore[no-untyped-def]
    """The app's agent (its start reconciles what earlier runs left unfinished)."""
    from autopay_app.agent.runtime import default_agent

    return default_agent()


@click.command("fund")
@click.argument("address", required=False)
@click.option("--sol", default="0", show_default=True, help="SOL to airdrop.")
@click.option("--usdc", default="0", show_default=True, help="USDC to mint.")
@click.option("--cash", default="0", show_default=True, help="CASH to mint.")
@with_appcontext
def fund(address: str | None, sol: str, usdc: str, cash: str) -> None:
    """Top up ADDRESS (default: the agent's wallet) from the local harness's faucet."""
    from autopay_app.agent import wallet
    from harness.faucet import FundError, fund_via_http

    cfg = context.settings()
    if address is None:
        address = str(
            wallet.load_or_create(cfg.keypair_path or cfg.home / "agent-keypair.json").pubkey()
        )
    try:
        answer = fund_via_http(cfg.solana_rpc_url, address, sol=sol, usdc=usdc, cash=cash)
    except FundError as exc:
        raise AutopayError(
            f"{exc} (on the real Devnet, use a Devnet faucet: see the README)"
        ) from None
    click.echo(f"funded {address}: {json.dumps(answer.get('balances', answer))}")


@click.command("fetch")
@click.argument("url")
@click.option("--max-amount", type=Amount(), default=None, help="Refuse to pay more than this.")
@click.option("--asset", type=click.Choice(["USDC", "CASH"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Queue it as a job for `autopay worker` processes and wait for its end.",
)
@click.option(
    "--wait",
    type=click.FloatRange(0.1, 86400),
    default=120.0,
    show_default=True,
    help="With --queue: seconds to wait for a worker to finish it.",
)
@with_appcontext
def fetch(
    url: str,
    max_amount: Decimal | None,
    asset: str | None,
    as_json: bool,
    queued: bool,
    wait: float,
) -> None:
    """Pay for URL (x402) and print the data and the payment."""
    check_url(url)
    agent = build_agent()
    if queued:
        result = fetch_queued(agent, url, max_amount, asset, wait)
    else:
        result = agent.fetch(url, max_amount=max_amount, asset=asset)
    summary = {
        "request_id": str(result.request_id),
        "status": result.status,
        "payment": {
            "signature": result.payment_hash,
            "amount": format_amount(result.amount),
            "asset": result.asset,
            "explorer": result.explorer_url,
        },
        "error": result.error,
        "category": result.category,
        "data": result.data,
    }
    if as_json:
        click.echo(json.dumps(summary, default=str))
    else:
        click.echo(json.dumps(result.data, indent=2, default=str))
        click.echo(f"\nstatus   {result.status}")
        if result.payment_hash:
            click.echo(f"paid     {format_amount(result.amount)} {result.asset}")
            click.echo(f"tx       {result.payment_hash}")
            click.echo(f"explorer {result.explorer_url}")
        if result.error:
            click.echo(f"error    [{result.category}] {result.error}")
    if result.status != "ACCESSED":
        raise SystemExit(1)


def fetch_queued(  # type: ignore[no-untyped-def]
    agent, url: str, max_amount: Decimal | None, asset: str | None, wait_s: float
):
    """Defer URL's paid fetch (origin CLI) and wait until a worker ends it; its result."""
    from autopay_app.agent.result import recorded_by_worker

    job = queue.PaidFetchJob(agent.name, url, "CLI", uuid.uuid4(), None, max_amount, asset)
    session = agent.session()
    with session.begin():
        job_id = queue.defer(session, job, worker_config.load().agent_concurrency)
    if job_id is None:
        raise AutopayError(f"a paid fetch of {url} by {agent.name} is queued already")
    click.echo(f"queued as job {job_id}; waiting for a worker ...", err=True)
    deadline = time.monotonic() + wait_s
    while (status := queue.job_status(agent.session(), job_id)) in queue.OPEN:
        if time.monotonic() > deadline:
            raise AutopayError(
                f"job {job_id} is still {status} after {wait_s:g} s: is an `autopay worker` "
                "running against this database?"
            )
        time.sleep(0.05)
    if queue.request_status(agent.session(), job.request_id) is None:
        raise AutopayError(f"job {job_id} ended {status} before its request was written")
    return recorded_by_worker(agent.ctx, job.request_id)


@click.command("reconcile")
@click.option(
    "--older-than",
    type=float,
    default=0.0,
    show_default=True,
    help="Only rows untouched for this many seconds.",
)
@with_appcontext
def reconcile(older_than: float) -> None:
    """Settle every SIGNED/CONFIRMED payment and unfinished request from the chain."""
    from autopay_app.agent.runtime import default_agent

    counts = default_agent().reconcile(older_than_s=older_than)
    click.echo("reconciled: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing"))


COMMANDS = (fund, fetch, reconcile)
