"""The agent's hot path runs its statements on the psycopg connection itself.

SQLAlchemy builds and runs every other query. The few statements on the path
of every paid request (open the request, reserve and write ahead, deliver,
verify: :mod:`~autopay_app.ledger.spend`, :mod:`~autopay_app.ledger.payments`,
:mod:`~autopay_app.ledger.requests_log`) are plain SQL executed by psycopg,
which prepares them server-side on first use (``prepare=True``). That removes
SQLAlchemy's per-execution work, a fifth of the agent's CPU per request
(py-spy, ``autopay bench``), without a second pool: the connection comes out of
the engine's pool, so the role hook, pre-ping and recycling still apply.

A statement built with SQLAlchemy Core can be run here too: :func:`compiled`
renders it once for psycopg and fills in its literal parameters.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

Connection = psycopg.Connection[Any]

#: A CTE that lets its statement's commit return before its WAL is flushed
#: (``synchronous_commit`` off for that transaction only): for rows that may be lost
#: if PostgreSQL itself crashes in the next fraction of a second (a PENDING request, a
#: balance read again from the chain), never for the write-ahead. The WAL is one
#: sequence, so the next durable commit flushes such a row along with its own.
NO_FLUSH_CTE = "no_flush AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))"


@contextmanager
def autocommit(engine: sa.Engine) -> Iterator[Connection]:
    """A pooled connection on which every statement commits by itself.

    A connection the server dropped meanwhile is not handed out again: returning it
    to the pool fails its reset, and SQLAlchemy's pool discards it.
    """
    fairy = engine.raw_connection()
    try:
        raw: Connection = fairy.driver_connection  # type: ignore[assignment]
        raw.autocommit = True
        try:
            yield raw
        finally:
            if not raw.closed:
                raw.autocommit = False  # back to the pool in the mode SQLAlchemy expects
    finally:
        fairy.close()


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[Connection]:
    """A pooled connection in one transaction: committed when the block ends, rolled
    back if it raises.

    (Pipeline mode was measured here and rejected: on a local socket a round trip
    costs less than psycopg's pipeline bookkeeping, and the reservation got slower.)
    """
    with autocommit(engine) as raw, raw.transaction():
        yield raw


@dataclass(frozen=True)
class Compiled:
    """A Core statement rendered once for psycopg, with its literal parameters."""

    sql: str
    literals: dict[str, Any]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.literals, **values}


def compiled(statement: sa.Executable) -> Compiled:
    done = statement.compile(dialect=psycopg_dialect.dialect())  # type: ignore[attr-defined]
    literals = {
        key: value.value if isinstance(value, enum.Enum) else value
        for key, value in done.construct_params(_check=False).items()
        if value is not None
    }
    return Compiled(str(done), literals)
