"""``autopay scheduler``: the Phase 3 scheduler as its own process."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.command("scheduler")
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when it is gone.")
@click.option("--seconds", type=float, default=None, hidden=True, help="Stop after this long.")
@with_appcontext
def scheduler(parent_pid: int | None, seconds: float | None) -> None:
    """Run the Phase 3 scheduler (balances, prioritizer, settlement, housekeeping).

    One process per database runs the jobs (a PostgreSQL advisory lock); more
    stand by and take over when it stops. Pair it with `autopay serve --no-scheduler`.
    """
    from autopay_app.scheduler.process import run

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    code = run(app, parent_pid=parent_pid, seconds=seconds)
    if code:
        raise SystemExit(code)
