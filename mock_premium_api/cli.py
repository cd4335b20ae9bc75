"""Command line: ``autopay mock-api`` (serve) and ``autopay mock-api bench``.

``mock_api_cli`` is a click group that serves when invoked without a
subcommand, so the lead mounts one object for both uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import IO

import click

from .config import ConfigError, load_config


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8402, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="gunicorn worker processes (default MOCK_API_WORKERS, 1).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per worker (default MOCK_API_THREADS, 16).",
)
@click.option("--parent-pid", type=int, default=None, help="Exit when this process is gone.")
@click.option(
    "--mcp", "with_mcp", is_flag=True, help="Also serve the data as paid MCP tools (x402)."
)
@click.option(
    "--mcp-port", default=8404, show_default=True, type=int, help="Port of /mcp; 0: a free one."
)
@click.pass_context
def mock_api_cli(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int | None,
    threads: int | None,
    parent_pid: int | None,
    with_mcp: bool,
    mcp_port: int,
) -> None:
    """Run the mock premium API (Market Data and Knowledge Data over x402).

    Before it listens, the seller's token accounts are made sure of (created
    through the local harness's faucet, or checked on any other RPC). With
    ``--mcp`` the same data is also sold as paid MCP tools at
    ``http://HOST:MCP_PORT/mcp`` (a second process, stopped with this one).
    """
    if ctx.invoked_subcommand is not None:
        return
    from .accounts import SellerAccountError, ensure_seller_accounts
    from .server import serve

    overrides = {k: v for k, v in (("workers", workers), ("threads", threads)) if v is not None}
    try:
        config = load_config(overrides)
    except ConfigError as error:
        click.echo(f"mock-api: configuration error: {error}", err=True)
        sys.exit(2)
    try:
        ensure_seller_accounts(config)
    except SellerAccountError as error:
        click.echo(f"mock-api: {error}", err=True)
        sys.exit(2)
    tools = _start_mcp(host, mcp_port) if with_mcp else None
    try:
        serve(config, host, port, parent_pid)
    except (ValueError, OSError) as error:
        click.echo(f"mock-api: cannot serve on {host}:{port}: {error}", err=True)
        sys.exit(2)
    finally:
        if tools is not None:
            _stop(tools)


#: What ``mock_premium_api.mcp_serve`` prints once it listens.
MCP_READY = "MOCK API MCP READY "


def _start_mcp(host: str, port: int) -> subprocess.Popen[str]:
    """The paid MCP tools' server (:mod:`.mcp_serve`), watching this process, once it
    listens; if it cannot (its one-line reason is on stderr already), exit 2 here too."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_premium_api.mcp_serve", "--host", host, "--port", str(port)]
        + ["--parent-pid", str(os.getpid()), "--no-account-check"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(MCP_READY):
        _stop(process)
        sys.exit(2)
    click.echo(line, nl=False)
    sys.stdout.flush()
    threading.Thread(target=_relay, args=(process.stdout,), daemon=True).start()
    return process


def _relay(stream: IO[str]) -> None:
    for line in stream:
        click.echo(line, nl=False)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@mock_api_cli.command("bench")
@click.option("--requests", "count", default=200, show_default=True, help="Paid requests per run.")
@click.option("--concurrency", default=8, show_default=True, help="Clients in the concurrent run.")
@click.option("--state-dir", default=None, help="Harness state directory (default: a temp dir).")
def bench_command(count: int, concurrency: int, state_dir: str | None) -> None:
    """Measure paid and unpaid throughput and latency through the real stack."""
    from .bench import run_bench

    run_bench(count=count, concurrency=concurrency, state_dir=state_dir)
