"""``autopay serve``: the dashboard and the JSON API on a threaded WSGI server.

Binds to AUTOPAY_HOST:AUTOPAY_PORT (127.0.0.1:5000) unless told otherwise.
When AUTOPAY_ADMIN_PASSWORD is unset it generates one for this run and prints
it with the API token derived from it. It starts the Phase 3 scheduler, which runs
its jobs only while this process holds the scheduler's advisory lock.
"""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import make_server

from autopay_app.cli import context
from autopay_app.web.security import admin_password, api_token


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


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default AUTOPAY_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Default AUTOPAY_PORT.")
@click.option("--threads/--no-threads", default=True, show_default=True)
@with_appcontext
def serve(host: str | None, port: int | None, threads: bool) -> None:
    """Serve the dashboard and the JSON API, and run the scheduler (one leader per database)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = context.settings()
    host = host or settings.host
    port = settings.port if port is None else port
    password, generated = ensure_admin_password(app)
    server = make_server(host, port, app, threaded=threads)
    url = f"http://{host}:{server.server_port}/"
    click.echo(f"Autopay dashboard on {url}  (Ctrl-C to stop)")
    if generated:
        click.echo(f"  admin password (generated for this run): {password}")
    else:
        click.echo("  admin password: AUTOPAY_ADMIN_PASSWORD")
    if app.config.get("AUTOPAY_API_TOKEN"):
        click.echo("  API token: AUTOPAY_API_TOKEN  (Authorization: Bearer <token>)")
    else:
        click.echo(f"  API token: {api_token(app)}  (Authorization: Bearer <token>)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"  warning: listening on {host}, reachable from other machines", err=True)
    scheduler = app.extensions.get("autopay_scheduler")
    if scheduler is not None and scheduler.start():
        click.echo("  scheduler: started (jobs run while this process holds the leader lock)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
        if scheduler is not None:
            scheduler.shutdown()
