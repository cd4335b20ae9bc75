"""``autopay serve``: the dashboard and the JSON API under gunicorn.

Binds to AUTOPAY_HOST:AUTOPAY_PORT (127.0.0.1:5000) unless told otherwise, with
AUTOPAY_WEB_WORKERS gunicorn workers of AUTOPAY_WEB_THREADS threads each. When
AUTOPAY_ADMIN_PASSWORD is unset it generates one for this run (shared by every
worker through the environment) and prints it. The API token (AUTOPAY_API_TOKEN,
or one generated once into AUTOPAY_HOME/api.token, 0600, before the workers
start) is printed only by the run that generates it. Each worker starts the
Phase 3 scheduler, which runs its jobs only in the one process holding the
scheduler's advisory lock (``--no-scheduler`` / AUTOPAY_SERVE_SCHEDULER=0 leaves
the jobs to ``autopay scheduler``).
"""

from __future__ import annotations

import os
import secrets

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from autopay_app.cli import context, processes
from autopay_app.web.security import admin_password, ensure_api_token

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ensure_admin_password(app: Flask) -> tuple[str, bool]:
    """The admin password, generated (and set on ``app``) when none is configured.

    Returns:
        The password and whether it was generated now.
    """
    configured = admin_password(app)
    if configured:
        return configured, False
    generated = secrets.token_urlsafe(12)
    app.config["AUTOPAY_ADMIN_PASSWORD"] = generated
    return generated, True


def api_token_lines(app: Flask, indent: str = "  ") -> list[str]:
    """The API token, generated now if there is none: shown in full only by the run that
    generates it; later runs say where it is kept."""
    token, generated = ensure_api_token(app)
    settings = app.config["AUTOPAY_SETTINGS"]
    if generated:
        return [
            f"{indent}API token (generated now and shown once): {token}",
            f"{indent}  kept in {settings.home / 'api.token'} (0600); send it as",
            f"{indent}  Authorization: Bearer <token>",
        ]
    if settings.api_token or app.config.get("AUTOPAY_API_TOKEN"):
        return [f"{indent}API token: AUTOPAY_API_TOKEN  (Authorization: Bearer <token>)"]
    return [f"{indent}API token: in {settings.home / 'api.token'}  (Authorization: Bearer)"]


def echo_api_token(app: Flask, indent: str = "  ") -> None:
    """Print :func:`api_token_lines`."""
    for line in api_token_lines(app, indent):
        click.echo(line)


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default AUTOPAY_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Default AUTOPAY_PORT.")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes (default AUTOPAY_WEB_WORKERS, 2 x CPUs + 1, at most 8).",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 256),
    help="Threads per worker (default AUTOPAY_WEB_THREADS, 4).",
)
@click.option(
    "--scheduler/--no-scheduler",
    default=None,
    help="Run the Phase 3 scheduler in the workers (default AUTOPAY_SERVE_SCHEDULER, on).",
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop when it is gone.")
@with_appcontext
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    scheduler: bool | None,
    parent_pid: int | None,
) -> None:
    """Serve the dashboard and the JSON API under gunicorn, and run the scheduler."""
    from autopay_app.cli.gunicorn_server import AutopayServer

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = context.settings()
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.web_workers
    threads = threads or settings.web_threads
    scheduler = settings.serve_scheduler if scheduler is None else scheduler
    password, generated = ensure_admin_password(app)
    os.environ["AUTOPAY_ADMIN_PASSWORD"] = password  # the workers build their apps from it
    context.database_url()  # the embedded PostgreSQL (if used) lives as long as this process
    lines = [
        f"  admin password (generated for this run): {password}"
        if generated
        else "  admin password: AUTOPAY_ADMIN_PASSWORD",
        *api_token_lines(app),
        f"  gunicorn: {workers} worker(s) x {threads} thread(s)",
        _limits_line(settings.ratelimit_storage_url, workers),
        "  scheduler: in the workers (jobs run in the one holding the leader lock)"
        if scheduler
        else "  scheduler: not here (run `autopay scheduler`)",
    ]
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}, reachable from other machines", err=True)

    def announce(url: str) -> None:
        click.echo("\n".join([f"Autopay dashboard on {url}  (Ctrl-C to stop)", *lines]))

    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    queue_workers = processes.start_worker()  # the paid fetches the scheduler queues
    try:
        AutopayServer(
            bind=bind,
            workers=workers,
            threads=threads,
            scheduler=scheduler,
            announce=announce,
            parent_pid=parent_pid,
        ).run()
    finally:
        for service in queue_workers:
            processes.stop(service)


def _limits_line(storage: str, workers: int) -> str:
    if storage.startswith("memory://"):
        shared = " per worker process" if workers > 1 else ""
        return (
            f"  rate limits: in memory{shared} (set AUTOPAY_RATELIMIT_STORAGE_URL=redis://... "
            "to share them)"
        )
    return f"  rate limits: {storage.split('://', 1)[0]} storage (shared by every worker)"
