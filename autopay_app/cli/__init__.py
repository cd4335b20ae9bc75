"""The ``autopay`` command: a Flask CLI group over :func:`autopay_app.create_app`.

``flask --app autopay_app ...`` reaches the same commands. Errors of the
application (:class:`~autopay_app.errors.AutopayError`) end the command with one
line on stderr and exit status 1 (2 for configuration errors), never a traceback.

The CLI is the one place that composes everything: ``serve`` and ``demo`` (with
``processes``, ``demo_report``), ``agent_commands`` (fetch, fund, reconcile),
``agents`` (forget), ``monitor`` (Phase 3), ``maintenance`` (seed, partitions,
retention, backup, restore), ``services`` (the harness and the mock API),
``bench`` and ``chaos`` (the tools of :mod:`autopay_app.devtools`), ``mcp`` (the agent as
an MCP server), ``context`` (what the commands share).
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup
from psycopg.errors import UndefinedTable
from sqlalchemy.exc import ProgrammingError

from autopay_app.errors import AutopayError, ConfigError


def register(app: Flask) -> None:
    """Attach every command group to ``app.cli`` (called by the factory)."""
    from autopay_app.cli import (
        agent_commands,
        agents,
        bench,
        compose_secrets,
        demo,
        maintenance,
        mcp,
        scheduler,
        serve,
        services,
        worker,
    )

    for command in (
        *maintenance.COMMANDS,
        *agent_commands.COMMANDS,
        agents.agent,
        bench.bench,
        serve.serve,
        scheduler.scheduler,
        worker.worker,
        compose_secrets.compose_secrets,
        demo.demo,
        mcp.mcp_command,
    ):
        app.cli.add_command(command)
    from autopay_app.cli.chaos import chaos
    from autopay_app.cli.monitor import monitor

    app.cli.add_command(monitor)
    app.cli.add_command(chaos)
    for name, command in services.COMMANDS.items():
        app.cli.add_command(command, name)


def _create_app() -> Flask:
    from autopay_app import create_app

    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    add_default_commands=True,
    load_dotenv=False,
    set_debug_flag=False,
    help="Autopay Agent: an autonomous x402 payment agent with a PostgreSQL ledger.",
)


def main() -> None:
    """Entry point of the ``autopay`` console script."""
    from autopay_app.config import load_settings

    try:
        load_settings()
        cli.main(prog_name="autopay", standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"autopay: configuration error: {exc}", err=True)
        sys.exit(2)
    except AutopayError as exc:
        click.echo(f"autopay: {exc}", err=True)
        sys.exit(1)
    except ProgrammingError as exc:
        if not isinstance(exc.orig, UndefinedTable):
            raise
        click.echo(
            "autopay: the ledger database has no tables yet: run `autopay db upgrade` first",
            err=True,
        )
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
