"""The PostgreSQL side of a paid request, alone: ``autopay bench ledger``'s hot-path table.

Paid requests written through the ledger functions the agent calls, in the
agent's order and on its connections, with nothing else around them (no
seller, no chain): the request opened (PENDING), the payment reserved and
written ahead SIGNED with the request PAID (one statement under the spend lock,
the durable commit before any send), then CONFIRMED with the delivery (a durable
commit: the data is returned after it) and VERIFIED (its commit not waiting for
the WAL flush). Sequentially: wall time per paid request and the CPU its PostgreSQL backend
spent (``/proc/<pid>/schedstat``; None when the server is on another host).
With ``writers`` threads paying for one agent (its spend lock shared): paid
requests per second and the write-ahead statement's time (reservation and
PAID), lock wait included. And one status change's audit row alone
(:func:`audit_event_us`): the backend CPU of inserting it, its indexes and
foreign key included.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from autopay_app.devtools import samples
from autopay_app.ledger import direct, payments, policies, requests_log
from autopay_app.models import ApiType, ConfirmationStatus

Advance = Callable[[int], None]
URL = "http://127.0.0.1:8402/api/market-feed"
ENDPOINT = "/api/market-feed"


@dataclass(frozen=True)
class HotFigure:
    writers: int
    requests: int
    seconds: float
    wall_p50_ms: float
    wall_p95_ms: float
    reserve_p50_ms: float
    reserve_p95_ms: float
    #: PostgreSQL backend CPU per paid request (sequential only; None: not visible here).
    backend_cpu_ms: float | None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def _backend_ns(conn: direct.Connection) -> int | None:
    try:
        return int(Path(f"/proc/{conn.info.backend_pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class _Payer:
    """Pays for one agent the way the agent writes a paid request."""

    def __init__(self, engine: sa.Engine, agent_id: uuid.UUID) -> None:
        self.engine, self.agent_id = engine, agent_id
        self.actor = "bench:hot-path"
        self.document = samples.payment_required(URL)
        self.terms = payments.Terms(
            agent_id=agent_id,
            amount=Decimal("0.01"),
            currency="USDC",
            amount_atomic=10_000,
            asset_mint=samples.USDC_DEVNET_MINT,
            pay_to=samples.DEMO_SELLER,
            network=samples.DEVNET,
            facilitator_url=None,
            x402_version=2,
        )

    def pay(self, i: int) -> float:
        """One paid request; returns the write-ahead statement's seconds (lock wait included)."""
        with direct.autocommit(self.engine) as conn:
            request_id = requests_log.open_request(
                conn, self.actor, self.agent_id, URL, ENDPOINT, ApiType.MARKET_DATA, None
            )
        ref = payments.PaymentRef(uuid.uuid4(), request_id, self.actor)
        signature = samples.fake_signature(f"hot-{ref.payment_id}")
        signed = payments.SignedBytes(signature, ref.payment_id.hex, "AQID" * 200, 10**6, None)
        x402 = (self.document, {"content-type": "application/json"})
        with direct.autocommit(self.engine) as conn:
            start = time.perf_counter()
            payments.write_ahead(
                conn, ref, self.terms, signed, endpoint=ENDPOINT, url=URL, x402=x402
            )
            reserved = time.perf_counter() - start
        delivery = payments.Delivery({"i": i}, 200, {"content-type": "application/json"}, 5)
        with direct.autocommit(self.engine) as conn:
            payments.mark_confirmed(
                conn,
                ref,
                payment_hash=signature,
                receipt={"success": True},
                delivery=delivery,
            )
            payments.mark_verified(
                conn,
                ref,
                metadata={"slot": i},
                level=ConfirmationStatus.CONFIRMED,
                fee_lamports=5000,
            )
        return reserved


def _agent_with_room(engine: sa.Engine, agent_id: uuid.UUID) -> None:
    """Caps wide enough that the benchmark is never refused."""
    with Session(engine) as session:
        policies.update(
            session, agent_id, per_request_cap="1", hourly_cap="1000000", daily_cap="1000000"
        )


def _q(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _sequential(payer: _Payer, n: int, advance: Advance) -> HotFigure:
    walls, reserves = [], []
    with payer.engine.connect() as probe:  # the pool's one connection: the backend measured
        raw = probe.connection.driver_connection
        assert raw is not None
        before = _backend_ns(raw)  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        reserves.append(payer.pay(i))
        walls.append(time.perf_counter() - t0)
        advance(1)
    seconds = time.perf_counter() - start
    with payer.engine.connect() as probe:
        raw = probe.connection.driver_connection
        assert raw is not None
        after = _backend_ns(raw)  # type: ignore[arg-type]
    cpu = None if before is None or after is None else (after - before) / 1e6 / n
    return HotFigure(
        1, n, seconds, _q(walls, 50), _q(walls, 95), _q(reserves, 50), _q(reserves, 95), cpu
    )


def _concurrent(payer: _Payer, n: int, writers: int, advance: Advance) -> HotFigure:
    def timed(i: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        reserved = payer.pay(i)
        advance(1)
        return time.perf_counter() - t0, reserved

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        done = list(pool.map(timed, range(n)))
    seconds = time.perf_counter() - start
    walls, reserves = [w for w, _ in done], [r for _, r in done]
    return HotFigure(
        writers,
        n,
        seconds,
        _q(walls, 50),
        _q(walls, 95),
        _q(reserves, 50),
        _q(reserves, 95),
        None,
    )


def run(url: str, agent_id: uuid.UUID, n: int, writers: int, advance: Advance) -> list[HotFigure]:
    """``n`` paid requests sequentially (one pooled connection, its backend's CPU read),
    then ``n`` by ``writers`` threads for the same agent."""
    figures = []
    seq = sa.create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        _agent_with_room(seq, agent_id)
        payer = _Payer(seq, agent_id)
        payer.pay(-1)  # warm: statements prepared, plans cached
        figures.append(_sequential(payer, n, advance))
    finally:
        seq.dispose()
    if writers > 1:
        many = sa.create_engine(url, pool_size=writers, max_overflow=0, pool_pre_ping=True)
        try:
            figures.append(_concurrent(_Payer(many, agent_id), n, writers, advance))
        finally:
            many.dispose()
    return figures


#: One status change's audit row as the payment trigger writes it (both ids, a signature,
#: the actor), inserted ``n`` times by one server-side loop (no round trips counted).
_AUDIT_LOOP = """
CREATE FUNCTION pg_temp.autopay_bench_audit(n integer, agent uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payment uuid;
    request uuid;
BEGIN
    FOR i IN 1..n LOOP
        payment := gen_random_uuid();
        request := gen_random_uuid();
        INSERT INTO audit_events (agent_id, event_type, severity, related_id, details)
        VALUES (agent, 'PAYMENT_STATUS', 'INFO', payment, jsonb_build_object(
            'payment_id', payment, 'api_request_id', request, 'from', 'SIGNED',
            'to', 'CONFIRMED', 'amount', '0.010000000', 'currency', 'USDC',
            'payment_hash', md5(payment::text) || md5(request::text), 'actor', 'bench:audit'));
    END LOOP;
END $$
"""


def audit_event_us(url: str, agent_id: uuid.UUID, n: int) -> float | None:
    """Backend CPU (microseconds) of one status change's audit row, alone: ``n`` rows
    inserted by one server-side loop in a transaction rolled back afterwards (None: the
    server's CPU is not visible here)."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        conn.execute(_AUDIT_LOOP)
        conn.execute("SELECT pg_temp.autopay_bench_audit(50, %s)", (agent_id,))  # warm
        before = _backend_ns(conn)
        conn.execute("SELECT pg_temp.autopay_bench_audit(%s, %s)", (n, agent_id))
        after = _backend_ns(conn)
        conn.rollback()
    return None if before is None or after is None else (after - before) / 1e3 / n
