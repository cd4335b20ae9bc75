"""``autopay agent policy``: show an agent's spend policy, open or close its allow-lists.

An agent pays the premium API it is configured for (``PREMIUM_API_URL``): its
host, and the recipients its catalog names. Paying anything else takes an
explicit entry::

    autopay agent policy --allow-host api.example.com --allow-recipient <address>
    autopay agent policy --allow-host '*' --allow-recipient '*'   # any host, any recipient
    autopay agent policy --revoke-host api.example.com            # and back
"""

from __future__ import annotations

from urllib.parse import urlsplit

import base58
import click
from flask.cli import with_appcontext

from autopay_app.cli import context
from autopay_app.ledger import agents, policies
from autopay_app.models import Agent

ANY = "*"


def parse_host(raw: str) -> str:
    """``host``, ``host:port`` or ``*``, lower-cased.

    Raises:
        click.BadParameter: Anything else (a URL, a path, a bad port).
    """
    value = raw.strip().lower()
    if value == ANY:
        return value
    parts = urlsplit("//" + value)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if not parts.hostname or parts.path or parts.query or "@" in value or not port_ok:
        raise click.BadParameter(f"{raw!r} is not a host, host:port or '*'", param_hint="host")
    return value


def parse_recipient(raw: str) -> str:
    """A base58 Solana address or ``*``."""
    value = raw.strip()
    if value == ANY:
        return value
    try:
        if len(base58.b58decode(value)) == 32:
            return value
    except ValueError:
        pass
    raise click.BadParameter(f"{raw!r} is not a Solana address or '*'", param_hint="recipient")


def _agent_row(name: str | None) -> Agent:
    """The named agent, or this machine's (created as its first fetch would create it)."""
    session = context.session()
    if name is not None:
        with session.begin():
            return agents.get_by_name(session, name)
    from autopay_app.agent import wallet

    cfg = context.settings()
    keypair = wallet.load_or_create(cfg.keypair_path or cfg.home / "agent-keypair.json")
    address = str(keypair.pubkey())
    return agents.ensure_agent(session, cfg.agent_name or f"agent-{address[:8]}", address)


def _changed(current: list[str], add: tuple[str, ...], remove: tuple[str, ...]) -> list[str]:
    out = [v for v in current if v not in remove]
    return out + [v for v in add if v not in out]


@click.command("policy")
@click.option("--agent", "name", default=None, help="Agent name (default: this machine's).")
@click.option("--allow-host", multiple=True, help="Allow paying HOST (host, host:port or '*').")
@click.option("--allow-recipient", multiple=True, help="Allow paying ADDRESS (or '*').")
@click.option("--revoke-host", multiple=True, help="Remove HOST from the allowed hosts.")
@click.option("--revoke-recipient", multiple=True, help="Remove ADDRESS from the recipients.")
@with_appcontext
def policy(
    name: str | None,
    allow_host: tuple[str, ...],
    allow_recipient: tuple[str, ...],
    revoke_host: tuple[str, ...],
    revoke_recipient: tuple[str, ...],
) -> None:
    """Show the agent's spend policy; open or close whom and where it may pay."""
    row = _agent_row(name)
    session = context.session()
    current = policies.get_or_create(session, row.id)
    add_hosts, drop_hosts = tuple(map(parse_host, allow_host)), tuple(map(parse_host, revoke_host))
    add_payees = tuple(map(parse_recipient, allow_recipient))
    drop_payees = tuple(map(parse_recipient, revoke_recipient))
    if add_hosts or drop_hosts or add_payees or drop_payees:
        current = policies.update(
            session,
            row.id,
            allowed_hosts=_changed(current.allowed_hosts, add_hosts, drop_hosts),
            allowed_recipients=_changed(current.allowed_recipients, add_payees, drop_payees),
        )
    premium = urlsplit(context.settings().premium_api_url).netloc
    hosts = [f"{premium} (the premium API)", *current.allowed_hosts]
    payees = ["those the premium API's catalog names", *current.allowed_recipients]
    click.echo(f"agent              {row.name} ({row.wallet_address})")
    click.echo(f"allowed hosts      {', '.join(hosts)}")
    click.echo(f"allowed recipients {', '.join(payees)}")
    click.echo(f"allowed assets     {', '.join(current.allowed_assets)}")
    caps = [format(c.normalize(), "f") for c in (current.per_request_cap, current.hourly_cap)]
    caps.append(format(current.daily_cap.normalize(), "f"))
    click.echo("caps               {} per request, {} per hour, {} per day".format(*caps))
