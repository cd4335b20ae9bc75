"""Small helpers the commands share: settings, a session, the database URL, progress."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from autopay_app.config import Settings
from autopay_app.extensions import db
from autopay_app.progress import Progress


def settings() -> Settings:
    return current_app.config["AUTOPAY_SETTINGS"]  # type: ignore[no-any-return]


def session() -> Session:
    """A fresh session whose transactions the ledger services own."""
    return Session(db.engine, expire_on_commit=False)


def uses_embedded() -> bool:
    return not current_app.config.get("AUTOPAY_EXTERNAL_DB") and settings().embedded_database


def database_url() -> str:
    """The SQLAlchemy URL of the ledger, starting the embedded server if it is used."""
    if uses_embedded():
        from autopay_app.embedded_db import ensure_database

        return ensure_database(settings().home)
    return str(db.engine.url.render_as_string(hide_password=False))


def progress(label: str, **options: Any) -> Progress:
    """A :class:`~autopay_app.progress.Progress` on stderr, AUTOPAY_PROGRESS_INTERVAL_S apart."""
    return Progress(label, interval_s=settings().progress_interval_s, **options)
