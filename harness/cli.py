"""Command line: ``python -m harness [serve|bench]``, mounted as ``autopay harness``."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from harness.app import HarnessApp, Options

READY_PREFIX = "HARNESS READY "
PARENT_POLL_S = 0.5


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_state_dir() -> Path:
    """Under AUTOPAY_HOME when it is set (with the agent's and the seller's files), else
    ``.autopay/harness-state`` of the current directory."""
    home = os.environ.get("AUTOPAY_HOME", "").strip()
    return Path(home or ".autopay") / "harness-state"


def _serve_options(function):
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind."),
        click.option(
            "--rpc-port",
            default=8899,
            show_default=True,
            type=int,
            help="JSON-RPC port (0: any free port).",
        ),
        click.option(
            "--facilitator-port",
            default=8403,
            show_default=True,
            type=int,
            help="x402 facilitator port (0: any free port).",
        ),
        click.option(
            "--slot-ms",
            default=400,
            show_default=True,
            type=click.IntRange(min=0),
            help="Milliseconds per slot; 0 advances one slot per RPC call.",
        ),
        click.option(
            "--finalize-slots",
            default=32,
            show_default=True,
            type=click.IntRange(min=1),
            help="Slots until a transaction is finalized.",
        ),
        click.option(
            "--state",
            "state_dir",
            default=default_state_dir,
            show_default="AUTOPAY_HOME/harness-state, else .autopay/harness-state",
            type=click.Path(path_type=Path),
            help="Directory for saved state.",
        ),
        click.option("--fresh", is_flag=True, help="Start from genesis, discarding saved state."),
        click.option(
            "--parent-pid", type=int, default=None, help="Exit when this process is gone."
        ),
        click.option(
            "--facilitator-rpc-url",
            envvar="HARNESS_FACILITATOR_RPC_URL",
            default=None,
            help="RPC the facilitator uses (default: this harness).",
        ),
        click.option(
            "--fault",
            "faults",
            multiple=True,
            help='Fault rule as JSON, e.g. \'{"method":"getBalance","mode":"http_500"}\'.',
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every request."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(name="harness", invoke_without_command=True)
@_serve_options
@click.pass_context
def harness_cli(ctx: click.Context, **kwargs) -> None:
    """Local Solana Devnet stand-in: JSON-RPC, faucet, x402 facilitator, fault injection."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve, **kwargs)


@harness_cli.command()
@_serve_options
def serve(parent_pid: int | None, verbose: bool, faults: tuple[str, ...], **kwargs) -> None:
    """Run the harness until SIGTERM/SIGINT (or until --parent-pid exits)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    for spec in faults:
        try:
            json.loads(spec)
        except ValueError as exc:
            raise click.BadParameter(f"--fault is not JSON: {exc}") from exc
    app = HarnessApp(Options(faults=faults, **kwargs))
    app.start()
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    sys.stdout.write(READY_PREFIX + json.dumps(app.ready_info()) + "\n")
    sys.stdout.flush()
    while not done.wait(PARENT_POLL_S):
        if parent_pid is not None and not _parent_alive(parent_pid):
            break
    app.stop()


@harness_cli.command()
@click.option(
    "--count",
    default=1500,
    show_default=True,
    type=int,
    help="Transfers per row (getBalance rows make twice as many calls).",
)
@click.option(
    "--clients",
    default=8,
    show_default=True,
    type=int,
    help="Concurrent clients for the concurrent rows.",
)
def bench(count: int, clients: int) -> None:
    """Measure RPC throughput over HTTP and in-process; print a table."""
    from harness.bench import run_bench

    run_bench(count, clients)
