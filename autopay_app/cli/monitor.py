"""``autopay monitor add|list|remove|set``: what a PHASE3 agent watches, its budget and tick.

Also ``prioritizer_bench`` (mounted by the lead under ``autopay bench``).
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import monitoring
from autopay_app.scheduler import config as scheduler_config
from autopay_app.web import phase3_panel

agent_option = click.option("--agent", "agent_name", default=None, help="Agent name.")


def _session() -> Session:
    return Session(db.engine, expire_on_commit=False)


def _agent_id(name: str | None):  # type: ignore[no-untyped-def]
    if name is None:
        from autopay_app.agent.runtime import default_agent

        agent = default_agent()
        return agent.agent_id, agent.name
    return monitoring.agent_id_for(_session(), name)


@click.group("monitor")
def monitor() -> None:
    """The APIs a PHASE3 agent keeps fresh, their weights, and the daily budget."""


@monitor.command("add")
@click.argument("url", required=False)
@click.option("--weight", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--price", default=None, help="Override the catalog price (token units).")
@click.option("--asset", type=click.Choice(["USDC", "CASH"]), default=None)
@click.option("--ttl", type=click.IntRange(1), default=None, help="Override the catalog TTL (s).")
@click.option("--from-catalog", "catalog", default=None, help="Monitor every item of this seller.")
@agent_option
@with_appcontext
def add(url, weight, price, asset, ttl, catalog, agent_name) -> None:  # type: ignore[no-untyped-def]
    """Monitor URL (or every catalog item with --from-catalog BASE_URL); updates if present."""
    if bool(url) == bool(catalog):
        raise click.UsageError("give a URL or --from-catalog BASE_URL")
    from autopay_app.agent.runtime import default_agent
    from autopay_app.scheduler.tick import import_catalog, listed

    agent_id, name = _agent_id(agent_name)
    if catalog:
        agent = default_agent()
        added = import_catalog(agent, catalog, Decimal(str(weight or 1)))
        click.echo(f"{name}: {added} catalog APIs added from {catalog}")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="URL")
    entry = default_agent().catalog.entry(url) or {}
    listed_price, listed_ttl = listed(entry, asset or "USDC")
    monitoring.upsert_api(
        _session(),
        agent_id,
        url,
        weight=Decimal(str(weight)) if weight else None,
        price=Decimal(price) if price else listed_price,
        asset=asset,
        ttl_seconds=ttl or listed_ttl,
    )
    click.echo(f"{name}: monitoring {url}")


@monitor.command("remove")
@click.argument("url")
@agent_option
@with_appcontext
def remove(url: str, agent_name: str | None) -> None:
    """Stop monitoring URL."""
    agent_id, name = _agent_id(agent_name)
    if not monitoring.remove_api(_session(), agent_id, url):
        raise click.ClickException(f"{name} does not monitor {url}")
    click.echo(f"{name}: no longer monitoring {url}")


@monitor.command("list")
@agent_option
@with_appcontext
def list_command(agent_name: str | None) -> None:
    """The monitored APIs with weight, price, TTL and freshness; budget and next purchase."""
    agent_id, name = _agent_id(agent_name)
    data = phase3_panel.panel(_session(), agent_id)
    click.echo(f"{name}: {len(data['apis'])} monitored APIs")
    click.echo(
        f"  {'weight':>8} {'price':>10} {'ttl':>6} {'age':>8}  {'fresh':<5} {'source':<7} url"
    )
    for a in data["apis"]:
        age = "never" if a["age_s"] is None else f"{a['age_s']:.0f}s"
        click.echo(
            f"  {a['weight']:>8} {a['price'] or 'catalog':>10} {a['ttl_seconds'] or '-':>6} "
            f"{age:>8}  {'yes' if a['fresh'] else 'no':<5} {a['source']:<7} {a['url']}"
        )
    if data["settings"]:
        s = data["settings"]
        tick = f"{s['tick_seconds']} s" if s["tick_seconds"] else None
        tick = tick or f"{scheduler_config.load().tick_s:g} s (AUTOPAY_TICK_S)"
        click.echo(
            f"daily budget {s['daily_budget']}, burst {s['burst_fraction']}, "
            f"at most {s['max_buys_per_tick']} purchases a tick, a tick every {tick}"
        )
        if s["last_tick_at"]:
            click.echo(f"last tick at {s['last_tick_at']}")
    if data["next_plan"]:
        p = data["next_plan"]
        click.echo(f"next planned purchase: {p['api']} at {p['at']} ({p['reason']})")


def _tick_seconds(raw: str) -> Decimal | None:
    """``--tick``: seconds between the agent's ticks, or ``default`` for AUTOPAY_TICK_S."""
    if raw.strip().lower() == "default":
        return None
    low, high = monitoring.TICK_BOUNDS
    try:
        value = Decimal(raw.strip())
    except ArithmeticError:
        raise click.BadParameter(f"not a number: {raw!r}", param_hint="--tick") from None
    if not (value.is_finite() and low <= value <= high):
        raise click.BadParameter(f"must be between {low} and {high} s", param_hint="--tick")
    if value != value.quantize(Decimal("0.001")):
        raise click.BadParameter("at most 3 decimal places", param_hint="--tick")
    return value


def _budget(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise click.BadParameter("not a number", param_hint="--daily-budget") from None
    if not (value.is_finite() and value >= 0):
        raise click.BadParameter("must be 0 or more", param_hint="--daily-budget")
    return value


@monitor.command("set")
@click.option("--daily-budget", default=None, help="Daily budget in token units.")
@click.option("--burst", type=click.FloatRange(0, 1), default=None, help="Bucket fraction.")
@click.option("--max-buys", type=click.IntRange(1, 10_000), default=None, help="Per tick.")
@click.option(
    "--tick",
    "tick",
    default=None,
    metavar="SECONDS",
    help="Seconds between this agent's ticks (1 to 86400), or 'default' for AUTOPAY_TICK_S.",
)
@agent_option
@with_appcontext
def set_command(daily_budget, burst, max_buys, tick, agent_name) -> None:  # type: ignore[no-untyped-def]
    """Change the agent's Phase 3 budget settings and its tick interval."""
    changes: dict[str, object] = {}
    if daily_budget is not None:
        changes["daily_budget"] = _budget(daily_budget)
    if burst is not None:
        changes["burst_fraction"] = Decimal(str(burst))
    if max_buys is not None:
        changes["max_buys_per_tick"] = max_buys
    if tick is not None:
        changes["tick_seconds"] = _tick_seconds(tick)
    if not changes:
        raise click.UsageError("nothing to set")
    agent_id, name = _agent_id(agent_name)
    cfg = scheduler_config.load()
    monitoring.ensure_settings(
        _session(), agent_id, cfg.daily_budget, cfg.pacing_burst, cfg.max_buys_per_tick
    )
    monitoring.update_settings(_session(), agent_id, **changes)
    shown = {k: f"default ({cfg.tick_s:g} s)" if v is None else v for k, v in changes.items()}
    click.echo(f"{name}: " + ", ".join(f"{k} = {v}" for k, v in shown.items()))
