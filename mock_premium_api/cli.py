"""Command line: ``autopay mock-api`` (serve) and ``autopay mock-api bench``.

``mock_api_cli`` is a click group that serves when invoked without a
subcommand, so the lead mounts one object for both uses.
"""

from __future__ import annotations

import sys

import click

from .config import ConfigError, load_config


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option("--port", default=8402, show_default=True, type=int, help="0 picks a free port.")
@click.option("--parent-pid", type=int, default=None, help="Exit when this process is gone.")
@click.pass_context
def mock_api_cli(ctx: click.Context, host: str, port: int, parent_pid: int | None) -> None:
    """Run the mock premium API (Market Data and Knowledge Data over x402)."""
    if ctx.invoked_subcommand is not None:
        return
    from . import create_app
    from .server import serve

    try:
        config = load_config()
    except ConfigError as error:
        click.echo(f"mock-api: configuration error: {error}", err=True)
        sys.exit(2)
    try:
        serve(create_app(config), host, port, config.pay_to, parent_pid)
    except (ValueError, OSError) as error:
        click.echo(f"mock-api: cannot serve on {host}:{port}: {error}", err=True)
        sys.exit(2)


@mock_api_cli.command("bench")
@click.option("--requests", "count", default=200, show_default=True, help="Paid requests per run.")
@click.option("--concurrency", default=8, show_default=True, help="Clients in the concurrent run.")
@click.option("--state-dir", default=None, help="Harness state directory (default: a temp dir).")
def bench_command(count: int, concurrency: int, state_dir: str | None) -> None:
    """Measure paid and unpaid throughput and latency through the real stack."""
    from .bench import run_bench

    run_bench(count=count, concurrency=concurrency, state_dir=state_dir)
