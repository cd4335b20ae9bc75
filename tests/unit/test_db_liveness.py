"""A pooled connection PostgreSQL ended is replaced at checkout, with no ping round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from autopay_app import db_liveness
from autopay_app.extensions import db
from autopay_app.ledger import direct


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    db_liveness.install(made)
    yield made
    made.dispose()


def _backend(engine: sa.Engine) -> int:
    with direct.autocommit(engine) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def _terminate(database_url: str, pid: int) -> None:
    other = sa.create_engine(database_url, poolclass=sa.NullPool)
    with other.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    other.dispose()


def _wait_dropped(engine: sa.Engine) -> None:
    """Until the pooled connection's socket shows what the server sent (at once, locally)."""
    raw = engine.pool._pool.queue[0].dbapi_connection  # type: ignore[attr-defined]
    ends = time.monotonic() + 10
    while not db_liveness.dropped(raw):
        assert time.monotonic() < ends, "the terminated connection never became readable"
        time.sleep(0.01)


def test_an_idle_live_connection_is_reused(engine: sa.Engine) -> None:
    assert _backend(engine) == _backend(engine)


def test_a_connection_the_server_ended_is_replaced_before_use(
    engine: sa.Engine, database_url: str
) -> None:
    first = _backend(engine)
    _terminate(database_url, first)
    _wait_dropped(engine)
    second = _backend(engine)  # no error: the pool opened a fresh connection
    assert second != first
    with engine.connect() as conn:  # and SQLAlchemy's own use of the pool works too
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_without_the_check_the_dead_connection_would_be_handed_out(database_url: str) -> None:
    bare = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        pid = _backend(bare)
        _terminate(database_url, pid)
        _wait_dropped(bare)
        with pytest.raises(Exception, match="terminat|closed|server"):  # noqa: PT011
            _backend(bare)
    finally:
        bare.dispose()


def test_the_app_engine_checks_connections_without_pre_ping(app: Flask) -> None:
    with app.app_context():
        assert not db.engine.pool._pre_ping  # type: ignore[attr-defined]
        hooks = {getattr(hook, "__module__", "") for hook in db.engine.pool.dispatch.checkout}
    assert db_liveness.__name__ in hooks
