"""Ledger maintenance commands: seed, partitions, retention (and backup, restore)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from autopay_app.cli import backups, context
from autopay_app.ledger import partitions


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Load demo data: an agent, 402 responses, Devnet-style transactions."""
    from autopay_app.devtools import seed

    report = seed.seed_demo(context.session())
    if report.created:
        click.echo(
            f"seeded agent {report.agent}: {report.requests} requests, {report.payments} payments"
        )
    else:
        click.echo(f"agent {report.agent} already exists: nothing to do")


@click.command("partitions")
@click.option("--months-ahead", default=3, show_default=True, type=click.IntRange(0, 36))
@with_appcontext
def partitions_command(months_ahead: int) -> None:
    """Create the monthly partitions of the audit trail and transaction logs ahead of time."""
    made = partitions.create_upcoming(context.session(), months_ahead)
    click.echo(f"created {made} partitions")


@click.command("retention")
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=None,
    help="Keep this many days (default: AUTOPAY_RETENTION_DAYS, 90).",
)
@click.option(
    "--include-transaction-logs",
    is_flag=True,
    help="Expire transaction logs too (money records; kept by default).",
)
@with_appcontext
def retention_command(days: int | None, include_transaction_logs: bool) -> None:
    """Drop audit partitions older than the retention period."""
    keep = days or context.settings().retention_days
    tables = ("audit_events", "transaction_logs") if include_transaction_logs else ("audit_events",)
    result = partitions.apply_retention(context.session(), keep, tables)
    click.echo(
        f"retention {keep} days: dropped {len(result.dropped)} partitions"
        + (f" ({', '.join(result.dropped)})" if result.dropped else "")
    )


COMMANDS = (seed_command, partitions_command, retention_command, *backups.COMMANDS)
