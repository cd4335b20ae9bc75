"""One ledger session per HTTP request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from autopay_app.extensions import db


def ledger_session() -> Session:
    """The request's session; the ledger services own its transactions."""
    if "ledger_session" not in g:
        g.ledger_session = Session(db.engine, expire_on_commit=False)
    return g.ledger_session  # type: ignore[no-any-return]


def _close(exc: BaseException | None) -> None:
    session = g.pop("ledger_session", None)
    if session is not None:
        session.close()


def init_context(app: Flask) -> None:
    # Per request, not per app context: a test may hold one app context over many requests.
    app.teardown_request(_close)
