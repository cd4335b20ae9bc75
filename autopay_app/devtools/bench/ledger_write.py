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
  one statement per commit. Its audit events are the triggers' rows, field for
  field (``details`` included: a test compares them), so both index the same text.
* The profile runs the project's statement with some of the database's own work
  switched off in the scratch database (``ALTER TABLE ... DISABLE TRIGGER``):
  first the status-audit triggers, then the per-minute spend trigger too. What
  each step saves is what that invariant costs; the foreign keys stay on.

All run sequentially and with ``writers`` concurrent connections (PostgreSQL
then flushes several commits with one WAL write: group commit). The ratios are
the project's time over the floor's. Each writer's backend CPU per transaction
is read from ``/proc`` when the server runs on this machine.
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
from autopay_app.devtools.bench import cpu
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
    #: Backend CPU seconds of its connections (None: the server is not on this machine).
    backend_cpu_s: float | None = None

    @property
    def rows(self) -> int:
        return self.transactions * 5

    @property
    def per_second(self) -> float:
        return self.transactions / self.seconds

    @property
    def backend_cpu_ms(self) -> float | None:
        """Backend CPU per transaction, in ms."""
        if self.backend_cpu_s is None:
            return None
        return self.backend_cpu_s / self.transactions * 1000


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
#: The floor's audit events carry what the status triggers write (migration 0011), field
#: for field: the request entering ACCESSED and the payment entering VERIFIED.
_ACCESS_EVENT = """INSERT INTO floor_audit_events (agent_id, event_type, severity, related_id,
    details)
VALUES (%(agent_id)s, 'API_ACCESS', 'INFO', %(request_id)s, jsonb_build_object(
    'api_request_id', %(request_id)s, 'endpoint', CAST(%(endpoint)s AS text),
    'url', CAST(%(url)s AS text), 'from', NULL, 'to', 'ACCESSED', 'http_status', 200,
    'actor', CAST(%(actor)s AS text), 'latency_ms', 12, 'payment_hash', CAST(%(hash)s AS text)))"""
_SUCCESS_EVENT = """INSERT INTO floor_audit_events (agent_id, event_type, severity, related_id,
    details)
VALUES (%(agent_id)s, 'PAYMENT_SUCCESS', 'INFO', %(payment_id)s, jsonb_build_object(
    'payment_id', %(payment_id)s, 'api_request_id', %(request_id)s, 'from', NULL,
    'to', 'VERIFIED', 'amount', CAST(CAST(%(amount)s AS numeric(18, 9)) AS text),
    'currency', CAST(%(currency)s AS text), 'payment_hash', CAST(%(hash)s AS text),
    'actor', CAST(%(actor)s AS text)))"""

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


@dataclass(frozen=True)
class Writer:
    name: str
    write: Write
    #: (table, trigger) switched off while it writes: a step of the profile.
    off: tuple[tuple[str, str], ...] = ()

    @property
    def is_floor(self) -> bool:
        return self.write is not _project


AUDIT_TRIGGERS = (
    ("api_requests", "api_requests_audit_insert"),
    ("payments", "payments_audit_insert"),
)
SPEND_TRIGGER = (("payments", "payments_spend_minutes"),)

FLOORS = ("floor: psycopg, 5 INSERTs per commit", "floor: psycopg, 1 statement per commit")
PROJECT = "project: 1 statement, triggers audit"
PROFILES = ("profile: project, audit triggers off", "profile: project, + spend trigger off")
WRITERS = (
    Writer(FLOORS[0], _floor_five),
    Writer(FLOORS[1], _floor_one),
    Writer(PROJECT, _project),
    Writer(PROFILES[0], _project, AUDIT_TRIGGERS),
    Writer(PROFILES[1], _project, AUDIT_TRIGGERS + SPEND_TRIGGER),
)


def _timed(
    conns: list[direct.Connection], write: Write, rows: list[dict[str, Any]], advance: Advance
) -> tuple[float, float | None]:
    """Seconds to write ``rows``, shared out over ``conns`` (one thread each), and the
    CPU seconds their backends spent (None when not visible from here)."""

    def share(k: int) -> None:
        for row in rows[k :: len(conns)]:
            write(conns[k], row)
            advance(1)

    backends = [conn.info.backend_pid for conn in conns]
    before = [cpu.process_seconds(pid) for pid in backends]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(conns)) as pool:
        list(pool.map(share, range(len(conns))))
    spent = time.perf_counter() - start
    after = [cpu.process_seconds(pid) for pid in backends]
    used = 0.0
    for a, b in zip(after, before, strict=True):
        if a is None or b is None:
            return spent, None
        used += a - b
    return spent, used


def _connections(stack: ExitStack, engine: sa.Engine, writer: Writer, n: int) -> list[Any]:
    """The project's connections come from the engine's pool (as the agent's do); the
    floor's are opened by plain psycopg."""
    if not writer.is_floor:
        return [stack.enter_context(direct.autocommit(engine)) for _ in range(n)]
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return [stack.enter_context(psycopg.connect(dsn, autocommit=True)) for _ in range(n)]


def _switch(engine: sa.Engine, off: tuple[tuple[str, str], ...], enable: bool) -> None:
    with engine.begin() as conn:
        for table, trigger in off:
            verb = "ENABLE" if enable else "DISABLE"
            conn.execute(sa.text(f"ALTER TABLE {table} {verb} TRIGGER {trigger}"))


def _session_slice(
    engine: sa.Engine, writer: Writer, n: int, part: list[dict[str, Any]], advance: Advance
) -> tuple[float, float | None]:
    if writer.off:
        _switch(engine, writer.off, enable=False)
    try:
        with ExitStack() as stack:
            conns = _connections(stack, engine, writer, n)
            return _timed(conns, writer.write, part, advance)
    finally:
        if writer.off:
            _switch(engine, writer.off, enable=True)


def write_sessions(
    engine: sa.Engine,
    agent_ids: list[uuid.UUID],
    transactions: int,
    writer_counts: list[int],
    advance: Advance,
    rounds: int = 10,
) -> list[WriteFigure]:
    """``transactions`` paid requests by each writer at each number of connections.

    Each connection writes the requests of an agent of its own: one agent's payments
    are serialised by design (its spend lock, and the per-minute spend row its
    payments all update). ``agent_ids`` holds ``max(writer_counts)`` agents for each
    writer, in the order of :data:`WRITERS`, so the project's rows are its agents'
    (:func:`project_agents`). The writers take turns in ``rounds`` slices of the
    session, so a machine whose speed drifts (a shared VM) slows all of them alike.
    """
    instructions = json.dumps(samples.payment_required(URL))
    per = len(agent_ids) // len(WRITERS)
    spent = {(w.name, n): (0.0, 0.0) for n in writer_counts for w in WRITERS}
    unseen: set[tuple[str, int]] = set()
    step = -(-transactions // rounds)
    for lo in range(0, transactions, step):
        for k, writer in enumerate(WRITERS):
            agents = agent_ids[k * per : (k + 1) * per]
            for n in writer_counts:
                part = [
                    _row(agents[i % n], i, instructions, f"{writer.name}/{n}")
                    for i in range(lo, min(lo + step, transactions))
                ]
                seconds, backend = _session_slice(engine, writer, n, part, advance)
                wall, used = spent[writer.name, n]
                spent[writer.name, n] = (wall + seconds, used + (backend or 0.0))
                if backend is None:
                    unseen.add((writer.name, n))
    return [
        WriteFigure(name, n, transactions, wall, None if (name, n) in unseen else used)
        for (name, n), (wall, used) in spent.items()
    ]


def project_agents(agent_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The agents whose rows the project's own writer (all triggers on) wrote."""
    per = len(agent_ids) // len(WRITERS)
    k = [w.name for w in WRITERS].index(PROJECT)
    return agent_ids[k * per : (k + 1) * per]
