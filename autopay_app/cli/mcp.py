"""``autopay mcp``: the agent as an MCP server (stdio, or ``--http HOST:PORT``)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from autopay_app.cli import context
from autopay_app.errors import AutopayError


def _address(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint="--http")
    return host.strip("[]"), int(port)


@click.command("mcp")
@click.option(
    "--http",
    "http_address",
    metavar="HOST:PORT",
    default=None,
    help="Serve streamable HTTP at http://HOST:PORT/mcp (bearer token) instead of stdio.",
)
@click.option(
    "--max-chars",
    type=click.IntRange(200, 1_000_000),
    default=4000,
    show_default=True,
    envvar="AUTOPAY_MCP_MAX_CHARS",
    help="Data characters per answer; the rest through fetch_result.",
)
@with_appcontext
def mcp_command(http_address: str | None, max_chars: int) -> None:
    """Serve this machine's agent to MCP clients (LLM agents) as a policy-bound wallet."""
    from autopay_app.agent.runtime import default_agent
    from autopay_app.mcp import server, tools, transport
    from autopay_app.secrets import load_or_create_api_token

    address = _address(http_address)
    cfg = context.settings()
    with transport.quiet_stdout():  # stdio: stdout carries only the protocol
        agent = default_agent()
        wallet = tools.WalletTools(agent, f"http://{cfg.host}:{cfg.port}", max_chars)
        mcp_server = server.build(wallet)
    click.echo(f"autopay mcp: agent {agent.name} ({agent.address})", err=True)
    try:
        if address is None:
            transport.serve_stdio(mcp_server)
            return
        token, created = load_or_create_api_token(cfg.api_token, cfg.home)
        if created:
            click.echo(f"autopay mcp: API token generated in {cfg.home / 'api.token'}", err=True)
        transport.serve_http(mcp_server, *address, token, cfg.ratelimit_storage_url)
    except OSError as exc:
        raise AutopayError(f"mcp: cannot serve: {exc}") from None
    finally:
        agent.close()
        sys.stderr.flush()
