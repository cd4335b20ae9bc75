"""The hot path's psycopg connections: autocommit, transactions, and dropped connections."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from autopay_app.ledger import direct


@pytest.fixture()
def engine(database_url: str) -> Iterator[sa.Engine]:
    # No pre-ping and LIFO: a dead connection put back would be the next one handed out.
    engine = sa.create_engine(database_url, pool_size=2, pool_use_lifo=True)
    yield engine
    engine.dispose()


def test_autocommit_statements_commit_one_by_one(engine: sa.Engine) -> None:
    with direct.autocommit(engine) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("INSERT INTO t VALUES (1 / 0)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    with engine.connect() as other:  # back in the pool in its normal mode
        assert other.connection.driver_connection.autocommit is False  # type: ignore[union-attr]


def test_a_transaction_commits_at_the_end_or_rolls_back_on_error(engine: sa.Engine) -> None:
    with direct.autocommit(engine) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with direct.transaction(engine) as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), direct.transaction(engine) as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("refused after the insert")
    with direct.autocommit(engine) as conn:
        assert conn.execute("SELECT array_agg(x) FROM t").fetchone() == ([1],)


def test_a_connection_the_server_dropped_is_never_handed_out_again(engine: sa.Engine) -> None:
    with pytest.raises(psycopg.OperationalError), direct.autocommit(engine) as doomed:
        (pid,) = doomed.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        with direct.autocommit(engine) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        doomed.execute("SELECT 1")
    for _ in range(3):
        with direct.autocommit(engine) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_core_statement_runs_with_its_literals(engine: sa.Engine) -> None:
    statement = sa.select(sa.literal(41) + sa.bindparam("n", type_=sa.Integer))
    done = direct.compiled(statement)
    with direct.autocommit(engine) as conn:
        assert conn.execute(done.sql, done.params({"n": 1})).fetchone() == (42,)


def test_a_no_flush_statement_leaves_the_next_commit_durable(engine: sa.Engine) -> None:
    """The PENDING request's commit skips the WAL flush for its own transaction only: the
    write-ahead that follows on the same connection still waits for its flush."""
    seen = f"WITH {direct.NO_FLUSH_CTE} SELECT current_setting('synchronous_commit') FROM no_flush"
    with direct.autocommit(engine) as conn:
        assert conn.execute(seen).fetchone() == ("off",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        with conn.transaction():
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
