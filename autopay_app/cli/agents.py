"""``autopay agent ...``: manage agents."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from autopay_app.cli import context
from autopay_app.cli.policy import policy
from autopay_app.ledger import erasure


@click.group("agent")
def agent() -> None:
    """Manage agents."""


agent.add_command(policy)


@agent.command("forget")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def forget(name: str, yes: bool) -> None:
    """Erase NAME's session token and personal payloads and pseudonymise it (GDPR-like)."""
    if not yes:
        click.confirm(
            f"Erase the personal data of agent {name!r}? This cannot be undone", abort=True
        )
    report = erasure.forget_agent(context.session(), name)
    for line in report.lines():
        click.echo(line)
