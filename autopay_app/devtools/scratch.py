"""Scratch databases on the ledger's server: created, migrated and dropped whole.

The test suite makes one migrated template and a copy per test; the benchmarks
and the chaos run work in a database of their own (:func:`scratch_database`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def scratch_database(base_url: str, suffix: str, *, keep: bool = False) -> Iterator[str]:
    """A freshly migrated database ``<name of base_url's>_<suffix>`` on the same server.

    Yields its URL; it is dropped afterwards unless ``keep`` (to EXPLAIN it later).
    """
    name = f"{make_url(base_url).database}_{suffix}"
    url = create_database(base_url, name)
    try:
        migrate(url)
        yield url
    finally:
        if not keep:
            drop_database(base_url, name)
