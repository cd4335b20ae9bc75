"""The session write of ``autopay bench ledger``, against its floor in the same run.

A session is ``transactions`` paid requests, each one durable commit of the same
five rows: the request (ACCESSED), its payment (VERIFIED), the transaction log,
and two audit events (API_ACCESS, PAYMENT_SUCCESS).

* The project writes a paid request as the agent's hot path writes: one
  prepared statement on the pooled psycopg connection
  (:mod:`autopay_app.ledger.direct`), the three rows in one ``WITH``, and the
  database's triggers add the two audit events (and the per-minute spend sums).
* The floor is the thinnest writer of the same rows: plain ``psycopg``, a
  connection of its own, no triggers, into copies of the four tables (same
  columns, defaults and indexes), once as five INSERTs per commit and once as
  one statement per commit.

Both run sequentially and with ``writers`` concurrent connections (PostgreSQL
then flushes several commits with one WAL write: group commit). The ratios are
the project's time over the floor's.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa

from autopay_app.devtools import samples
from autopay_app.ledger import audit, direct

Advance = Callable[[int], None]
TABLES = ("api_requests", "payments", "transaction_logs", "audit_events")
URL = "http://127.0.0.1:8402/api/market-feed"


@dataclass(frozen=True)
class WriteFigure:
    writer: str
    writers: int
    transactions: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.transactions * 5

    @property
    def per_second(self) -> float:
        return self.transactions / self.seconds


def _row(agent_id: uuid.UUID, i: int, instructions: str, salt: str) -> dict[str, Any]:
    """The values of paid request ``i`` (the same for the project and the floor; ``salt``
    keeps each writer's ids and signatures its own)."""
    sig = samples.fake_signature(f"bench-{agent_id}-{salt}-{i}")
    return {
        "request_id": uuid.uuid4(),
        "payment_id": uuid.uuid4(),
        "agent_id": agent_id,
        "endpoint": "/api/market-feed",
        "url": URL,
        "instructions": instructions,
        "data": json.dumps({"i": i}),
        "actor": "bench:ledger",
        "amount": Decimal("0.010") + Decimal(i % 7) / 1000,
        "currency": "USDC" if i % 2 else "CASH",
        "hash": sig,
        "payer": samples.fake_signature(f"bench-payer-{agent_id}-{salt}-{i}"),
        "network": samples.DEVNET,
        "metadata": json.dumps({"signature": sig, "slot": i, "fee": 10000}),
    }


_REQUEST = """INSERT INTO {t}api_requests (id, agent_id, endpoint, api_type, url, http_status,
    x402_instructions, data_accessed, status, latency_ms)
VALUES (%(request_id)s, %(agent_id)s, %(endpoint)s, 'MARKET_DATA', %(url)s, 200,
    CAST(%(instructions)s AS jsonb), CAST(%(data)s AS jsonb), 'ACCESSED', 12)"""
_PAYMENT = """INSERT INTO {t}payments (id, api_request_id, agent_id, amount, currency,
    payment_hash, payer_signature, status, network, x402_version)
VALUES (%(payment_id)s, %(request_id)s, %(agent_id)s, %(amount)s,
    CAST(%(currency)s AS payment_currency), %(hash)s, %(payer)s, 'VERIFIED', %(network)s, 2)"""
_LOG = """INSERT INTO {t}transaction_logs (payment_id, solana_tx_metadata, confirmation_status,
    gas_fees)
VALUES (%(payment_id)s, CAST(%(metadata)s AS jsonb), 'CONFIRMED', 10000)"""
_ACCESS_EVENT = """INSERT INTO floor_audit_events (agent_id, event_type, severity, related_id,
    details)
VALUES (%(agent_id)s, 'API_ACCESS', 'INFO', %(request_id)s,
        jsonb_build_object('to', 'ACCESSED', 'url', CAST(%(url)s AS text)))"""
_SUCCESS_EVENT = """INSERT INTO floor_audit_events (agent_id, event_type, severity, related_id,
    details)
VALUES (%(agent_id)s, 'PAYMENT_SUCCESS', 'INFO', %(payment_id)s,
        jsonb_build_object('to', 'VERIFIED', 'amount', CAST(%(amount)s AS text)))"""

#: The project's statement, as the agent's: its actor first, three rows in one WITH; the
#: triggers write the audit events (their rows are checked at the end of the statement).
PROJECT_SQL = (
    f"WITH {audit.ACTOR_CTE},\nr AS ({_REQUEST.format(t='')}),\n"
    f"p AS ({_PAYMENT.format(t='')})\n"
    + _LOG.format(t="").replace("VALUES (", "SELECT ").replace("10000)", "10000 FROM ctx")
)
#: The floor as five INSERTs in one transaction.
FLOOR_STATEMENTS = (
    _REQUEST.format(t="floor_"),
    _PAYMENT.format(t="floor_"),
    _LOG.format(t="floor_"),
    _ACCESS_EVENT,
    _SUCCESS_EVENT,
)
#: The floor as one statement.
FLOOR_SQL = (
    f"WITH r AS ({FLOOR_STATEMENTS[0]}),\np AS ({FLOOR_STATEMENTS[1]}),\n"
    f"l AS ({FLOOR_STATEMENTS[2]}),\na AS ({_ACCESS_EVENT})\n{_SUCCESS_EVENT}"
)


def make_floor_tables(conn: sa.Connection) -> None:
    """Copies of the four tables (columns, defaults, indexes; no triggers, no keys to
    other tables) for the floor to write into."""
    for table in TABLES:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS floor_{table}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
        )


Write = Callable[[direct.Connection, dict[str, Any]], None]


def _project(conn: direct.Connection, row: dict[str, Any]) -> None:
    conn.execute(PROJECT_SQL, row, prepare=True)  # autocommit: one durable commit


def _floor_one(conn: direct.Connection, row: dict[str, Any]) -> None:
    conn.execute(FLOOR_SQL, row, prepare=True)


def _floor_five(conn: direct.Connection, row: dict[str, Any]) -> None:
    with conn.transaction():
        for statement in FLOOR_STATEMENTS:
            conn.execute(statement, row, prepare=True)


FLOORS = ("floor: psycopg, 5 INSERTs per commit", "floor: psycopg, 1 statement per commit")
PROJECT = "project: 1 statement, triggers audit"
WRITERS: dict[str, Write] = {FLOORS[0]: _floor_five, FLOORS[1]: _floor_one, PROJECT: _project}


def _timed(
    conns: list[direct.Connection], write: Write, rows: list[dict[str, Any]], advance: Advance
) -> float:
    """Seconds to write ``rows``, shared out over ``conns`` (one thread each)."""

    def share(k: int) -> None:
        for row in rows[k :: len(conns)]:
            write(conns[k], row)
            advance(1)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(conns)) as pool:
        list(pool.map(share, range(len(conns))))
    return time.perf_counter() - start


def _connections(stack: ExitStack, engine: sa.Engine, write: Write, n: int) -> list[Any]:
    """The project's connections come from the engine's pool (as the agent's do); the
    floor's are opened by plain psycopg."""
    if write is _project:
        return [stack.enter_context(direct.autocommit(engine)) for _ in range(n)]
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return [stack.enter_context(psycopg.connect(dsn, autocommit=True)) for _ in range(n)]


def write_sessions(
    engine: sa.Engine,
    agent_ids: list[uuid.UUID],
    transactions: int,
    writer_counts: list[int],
    advance: Advance,
    rounds: int = 10,
) -> list[WriteFigure]:
    """``transactions`` paid requests by each writer at each number of connections.

    Each connection writes the requests of an agent of its own (``agent_ids``, one
    per connection): one agent's payments are serialised by design (its spend lock,
    and the per-minute spend row its payments all update). The writers take turns in
    ``rounds`` slices of the session, so a machine whose speed drifts (a shared VM)
    slows all of them alike.
    """
    instructions = json.dumps(samples.payment_required(URL))
    seconds = {(name, n): 0.0 for n in writer_counts for name in WRITERS}
    step = -(-transactions // rounds)
    for lo in range(0, transactions, step):
        for (name, n), _ in seconds.items():
            write = WRITERS[name]
            with ExitStack() as stack:
                conns = _connections(stack, engine, write, n)
                part = [
                    _row(agent_ids[i % n], i, instructions, f"{name}/{n}")
                    for i in range(lo, min(lo + step, transactions))
                ]
                seconds[name, n] += _timed(conns, write, part, advance)
    return [WriteFigure(name, n, transactions, spent) for (name, n), spent in seconds.items()]
