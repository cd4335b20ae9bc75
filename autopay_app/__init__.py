"""Autopay Agent: an autonomous x402 payment agent with a PostgreSQL ledger.

``create_app()`` applies defaults, then the environment (one validated
:class:`~autopay_app.config.Settings`), then test overrides; it binds the
extensions, the blueprints and the CLI commands and starts nothing: the
embedded database starts on the first connection, the scheduler only under
``autopay serve`` / ``autopay demo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from autopay_app.config import Settings, load_settings
from autopay_app.extensions import db, migrate

#: Alembic's scripts ship inside the package, so an installed (not editable) copy migrates.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Args:
        config: Overrides applied last (tests). ``AUTOPAY_SETTINGS`` may carry a
            ready :class:`Settings`; ``SQLALCHEMY_DATABASE_URI`` a database URL.
    """
    app = Flask(__name__)
    overrides = dict(config or {})
    settings: Settings = overrides.pop("AUTOPAY_SETTINGS", None) or load_settings()
    app.config.from_mapping(
        AUTOPAY_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url or "postgresql+psycopg://postgres@/autopay",
    )
    app.config.from_mapping(overrides)
    register_extensions(
        app, embedded=settings.embedded_database and "SQLALCHEMY_DATABASE_URI" not in overrides
    )
    register_blueprints(app)
    register_commands(app)
    register_scheduler(app)
    register_proxy_fix(app, settings.proxy_hops)
    return app


def register_proxy_fix(app: Flask, hops: int) -> None:
    """Behind ``hops`` reverse proxies, trust that many X-Forwarded-* entries (werkzeug).

    Client addresses (rate limits, the audit trail) and generated URLs (scheme, host,
    port, prefix) then come from the proxy's headers; with 0 they are ignored.
    """
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )


def register_scheduler(app: Flask) -> None:
    """Wire the Phase 3 scheduler; only ``autopay serve`` / ``autopay demo`` start it."""
    from autopay_app.scheduler import create_scheduler

    app.extensions["autopay_scheduler"] = create_scheduler(app)


def register_extensions(app: Flask, *, embedded: bool) -> None:
    from autopay_app import models  # noqa: F401  (registers the tables)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=False)
    # Work as the application role (autopay_app/db_roles.py); AUTOPAY_DB_ROLE="" keeps
    # the login user's rights.
    # A pooled connection the server dropped is replaced at checkout, without the
    # round trip of pool_pre_ping (autopay_app/db_liveness.py).
    from autopay_app import db_liveness, db_roles

    with app.app_context():
        db_liveness.install(db.engine)
        db_roles.install(db.engine, app.config.get("AUTOPAY_DB_ROLE", db_roles.APP))
    if embedded:
        with app.app_context():
            _start_embedded_on_connect(db.engine, app.config["AUTOPAY_SETTINGS"])


def _start_embedded_on_connect(engine: Any, settings: Settings) -> None:
    """Start the embedded server the first time the engine connects."""
    from autopay_app import embedded_db

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        url = embedded_db.ensure_database(settings.home)
        cparams["host"] = url.split("host=", 1)[1]


def register_blueprints(app: Flask) -> None:
    from autopay_app.web import register_blueprints as register_web

    register_web(app)


def register_commands(app: Flask) -> None:
    from autopay_app.cli import register

    register(app)
