"""``autopay worker``: a procrastinate worker running the queued paid fetches."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from autopay_app.cli import context
from autopay_app.pids import alive
from autopay_app.tasks.queue import QUEUES

READY = "WORKER READY "


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Jobs run at once in this process (default AUTOPAY_WORKER_CONCURRENCY, 4).",
)
@click.option(
    "--queues",
    default=None,
    help="Comma list of queues to take jobs from (default all: paid_fetch,maintenance).",
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when it is gone.")
@with_appcontext
def worker(concurrency: int | None, queues: str | None, parent_pid: int | None) -> None:
    """Run queued paid fetches for the agents whose keypairs this machine holds.

    Start as many as you like, on as many machines as you like: they share the
    queue in the ledger's PostgreSQL. SIGTERM / Ctrl-C let running jobs finish.
    """
    from autopay_app.tasks import worker as runner

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    context.database_url()  # the embedded PostgreSQL (if used) starts here
    names = [q.strip() for q in (queues or "").split(",") if q.strip()] or None
    unknown = sorted(set(names or ()) - set(QUEUES))
    if unknown:
        raise click.BadParameter(
            f"unknown queue {unknown[0]!r} (queues: {', '.join(QUEUES)})", param_hint="--queues"
        )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if parent_pid:
        threading.Thread(target=_watch, args=(parent_pid, stop), daemon=True).start()

    def ready(agents: list[str]) -> None:
        line = {"pid": os.getpid(), "agents": agents, "queues": names or "all"}
        click.echo(READY + json.dumps(line))

    runner.run(app, concurrency=concurrency, queues=names, stop=stop, ready=ready)


def _watch(parent: int, stop: threading.Event) -> None:
    while not stop.is_set():
        if not alive(parent):
            stop.set()
        time.sleep(0.5)
