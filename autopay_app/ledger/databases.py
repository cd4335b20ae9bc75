"""Create, migrate and drop whole databases on the ledger's server (tests, benchmarks)."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead (query parameters kept)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(libpq, autocommit=True)


def create_database(url: str, name: str, *, template: str | None = None) -> str:
    """(Re)create database ``name`` on ``url``'s server and return its URL."""
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmpl = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    """Run the Alembic migrations against ``url`` (upgrade, or downgrade with ``down``)."""
    import flask_migrate

    from autopay_app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "AUTOPAY_EXTERNAL_DB": True})
    with app.app_context():
        if down:
            flask_migrate.downgrade(revision=revision)
        else:
            flask_migrate.upgrade(revision=revision)
        from autopay_app.extensions import db

        db.engine.dispose()
