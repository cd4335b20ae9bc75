"""The ledger benchmark: one demo session written, audit queries at 1,000,000 rows.

Runs in a scratch database (``<name>_bench``) that it creates, migrates and drops.
Figures: seconds for a 10,000-transaction session written as the agent writes
(:mod:`~autopay_app.devtools.bench.ledger_write`), sequentially and with
concurrent writers, against the thinnest psycopg writer of the same rows in the
same run, and the profile of what the database's own triggers add to it; the
PostgreSQL side of the agent's paid request alone
(:mod:`~autopay_app.devtools.bench.ledger_hot`: wall time and backend CPU per
paid request, and with concurrent writers for one agent); and p50/p95 of the
dashboard's audit queries with their EXPLAIN,
against a baseline of the same queries with index scans disabled in the same run.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.devtools import samples, scratch
from autopay_app.devtools.bench import Bars, ledger_hot, ledger_write
from autopay_app.ledger.queries import AuditFilter, audit_select, explain
from autopay_app.models import (
    Agent,
    AuditEvent,
    AuditEventType,
    AutonomyLevel,
    Severity,
)

Advance = Callable[[int], None]


@dataclass
class QueryFigure:
    name: str
    p50_ms: float
    p95_ms: float
    baseline_p50_ms: float
    plan: list[str] = field(default_factory=list)

    @property
    def uses_index(self) -> bool:
        return any("Index" in line for line in self.plan)


FILL_SQL = """
INSERT INTO audit_events (agent_id, event_type, severity, related_id, details, created_at)
SELECT (:agents)[1 + (g % array_length(:agents, 1))],
       (enum_range(NULL::audit_event_type))[1 + (g % 8)],
       (CASE WHEN g % 50 = 0 THEN 'ERROR' WHEN g % 7 = 0 THEN 'WARNING' ELSE 'INFO' END)
           ::audit_severity,
       gen_random_uuid(),
       jsonb_build_object('endpoint', '/api/market-feed', 'seq', g,
                          'note', CASE WHEN g % 1000 = 0 THEN 'facilitator timeout rare'
                                       ELSE 'routine access ' || (g % 97) END),
       now() - make_interval(secs => (g % 5184000))
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
"""


def fill_audit(engine: sa.Engine, rows: int, advance: Advance, chunk: int = 100_000) -> None:
    """Bring audit_events to ``rows`` rows over the last 60 days, 10 agents."""
    with engine.begin() as conn:
        have = conn.scalar(sa.text("SELECT count(*) FROM audit_events")) or 0
        agents = [uuid.uuid4() for _ in range(10)]
        for a in agents:
            conn.execute(
                sa.insert(Agent).values(
                    id=a,
                    name=f"bench-{a.hex[:8]}",
                    autonomy_level=AutonomyLevel.PHASE1,
                    wallet_address=samples.fake_address(str(a)),
                )
            )
        for months_back in range(3):
            conn.execute(
                sa.text(
                    "SELECT autopay_ensure_partition('audit_events', "
                    "(date_trunc('month', now()) - make_interval(months => :m))::date)"
                ),
                {"m": months_back},
            )
    lo = have
    while lo < rows:
        hi = min(rows, lo + chunk)
        with engine.begin() as conn:
            conn.execute(
                sa.text(FILL_SQL).bindparams(sa.bindparam("agents", type_=sa.ARRAY(sa.Uuid))),
                {"agents": agents, "lo": lo + 1, "hi": hi},
            )
        advance(hi - lo)
        lo = hi
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE audit_events"))


def _time(session: Session, query: sa.Select, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        session.execute(query).all()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def audit_queries(engine: sa.Engine) -> Iterator[tuple[str, sa.Select]]:
    with Session(engine) as session:
        agent_id = session.scalar(
            sa.select(AuditEvent.agent_id).order_by(AuditEvent.created_at.desc()).limit(1)
        )
    yield "latest 50 for an agent", audit_select(AuditFilter(agent_id=agent_id))
    yield (
        "type + severity",
        audit_select(
            AuditFilter(event_type=AuditEventType.NETWORK_ISSUE, severity=Severity.WARNING)
        ),
    )
    yield "full-text search", audit_select(AuditFilter(text="facilitator timeout"))
    yield (
        "agent + 24 h window",
        audit_select(AuditFilter(agent_id=agent_id, since=datetime.now(UTC) - timedelta(days=1))),
    )


def measure_queries(engine: sa.Engine, runs: int = 40) -> list[QueryFigure]:
    figures = []
    for name, query in audit_queries(engine):
        with Session(engine) as session:
            plan = explain(session, query)
            timed = _time(session, query, runs)
            session.execute(
                sa.text(
                    "SET enable_indexscan = off; SET enable_bitmapscan = off; "
                    "SET enable_indexonlyscan = off"
                )
            )
            baseline = _time(session, query, max(3, runs // 8))
        figures.append(
            QueryFigure(name, _p(timed, 50), _p(timed, 95), statistics.median(baseline), plan)
        )
    return figures


def _bench_agents(engine: sa.Engine, n: int) -> list[uuid.UUID]:
    agents = [
        Agent(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            autonomy_level=AutonomyLevel.PHASE1,
            wallet_address=samples.fake_address(f"bench-{k}"),
        )
        for k in range(n)
    ]
    with Session(engine) as session, session.begin():
        session.add_all(agents)
        session.flush()
        return [a.id for a in agents]


def run(
    base_url: str,
    transactions: int,
    audit_rows: int,
    progress: Bars,
    *,
    writers: int = 8,
    keep: bool = False,
) -> tuple[Written, list[QueryFigure]]:
    """A demo session written (by the project and its floor, sequentially and by
    ``writers`` connections) and the audit queries timed, in a scratch database."""
    with scratch.scratch_database(base_url, "bench", keep=keep) as url:
        engine = sa.create_engine(url, pool_size=max(5, writers))
        agent_ids = _bench_agents(engine, writers * len(ledger_write.WRITERS))
        with engine.begin() as conn:
            ledger_write.make_floor_tables(conn)
        counts = sorted({1, writers})
        total = transactions * len(counts) * len(ledger_write.WRITERS)
        with progress("writing session", total=total, unit="transactions") as bar:
            write = ledger_write.write_sessions(
                engine, agent_ids, transactions, counts, bar.advance
            )
        written = _project_rows(engine, ledger_write.project_agents(agent_ids))
        hot_n = min(transactions, HOT_REQUESTS)
        hot_agent = _bench_agents(engine, 1)[0]
        hot_total = hot_n * (2 if writers > 1 else 1)
        with progress("paying (hot path)", total=hot_total, unit="paid requests") as bar:
            hot = ledger_hot.run(url, hot_agent, hot_n, writers, bar.advance)
        audit_us = ledger_hot.audit_event_us(url, hot_agent, AUDIT_EVENTS)
        with progress("filling audit_events", total=audit_rows, unit="rows") as bar:
            fill_audit(engine, audit_rows, bar.advance)
        figures = measure_queries(engine)
        engine.dispose()
    return Written(write, written, hot, audit_us), figures


#: Paid requests of the hot-path table (fewer when the session is smaller).
HOT_REQUESTS = 500
#: Status-change audit rows inserted alone for the per-event figure.
AUDIT_EVENTS = 2000

PROJECT_ROWS = sa.text(
    "SELECT (SELECT count(*) FROM api_requests WHERE agent_id = ANY(:a)), "
    "(SELECT count(*) FROM payments WHERE agent_id = ANY(:a)), "
    "(SELECT count(*) FROM transaction_logs l JOIN payments p ON p.id = l.payment_id "
    "WHERE p.agent_id = ANY(:a)), "
    "(SELECT count(*) FROM audit_events WHERE agent_id = ANY(:a))"
).bindparams(sa.bindparam("a", type_=sa.ARRAY(sa.Uuid)))


@dataclass(frozen=True)
class Written:
    figures: list[ledger_write.WriteFigure]
    rows: tuple[int, ...]
    hot: list[ledger_hot.HotFigure] = field(default_factory=list)
    #: Backend CPU (us) of one status change's audit row alone (None: not visible here).
    audit_event_us: float | None = None


def _project_rows(engine: sa.Engine, agents: list[uuid.UUID]) -> tuple[int, ...]:
    """What the project's writer left in the ledger (the floor writes into copies, the
    profile for agents of its own)."""
    with engine.connect() as conn:
        row = conn.execute(PROJECT_ROWS, {"a": agents}).one()
    return tuple(int(n) for n in row)


def _report_hot(hot: list[ledger_hot.HotFigure]) -> None:
    if not hot:
        return
    click.echo(
        f"\nagent hot path: the PostgreSQL side of {hot[0].requests:,} paid requests "
        "(open; reserve + SIGNED + PAID in one statement; confirm; verify; no seller, no chain)"
    )
    click.echo(
        f"  {'writers':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'reserve p50':>12} "
        f"{'reserve p95':>12} {'backend CPU ms/request':>23}"
    )
    for h in hot:
        cpu = "n/a" if h.backend_cpu_ms is None else f"{h.backend_cpu_ms:.2f}"
        click.echo(
            f"  {h.writers:>7} {h.per_second:>8.0f} {h.wall_p50_ms:>8.2f} {h.wall_p95_ms:>8.2f} "
            f"{h.reserve_p50_ms:>12.2f} {h.reserve_p95_ms:>12.2f} {cpu:>23}"
        )
    click.echo(
        "  (concurrent writers pay for one agent: its spend lock is shared; reserve = the "
        "write-ahead statement that takes it, lock wait included; CPU n/a for the "
        "concurrent row or a server on another host)"
    )


def report(written: Written, figures: list[QueryFigure], audit_rows: int) -> None:
    """The write table with its floor and ratios, the query table with its same-run
    baseline, and the plans."""
    write = written.figures
    n = write[0].transactions
    click.echo(
        f"\nledger write: one demo session of {n:,} transactions "
        "(request, payment, log, 2 audit events; one durable commit each)"
    )
    click.echo(
        f"  {'writer':<40} {'writers':>7} {'seconds':>8} {'tx/s':>8} {'rows/s':>8} "
        f"{'backend CPU ms/tx':>18}"
    )
    for w in write:
        cpu = "n/a" if w.backend_cpu_ms is None else f"{w.backend_cpu_ms:.3f}"
        click.echo(
            f"  {w.writer:<40} {w.writers:>7} {w.seconds:>8.2f} {w.per_second:>8.0f} "
            f"{w.rows / w.seconds:>8.0f} {cpu:>18}"
        )
    for count in sorted({w.writers for w in write}):
        by = {w.writer: w.seconds for w in write if w.writers == count}
        label = "sequential" if count == 1 else f"{count} writers, one agent each"
        for writer in (ledger_write.PROJECT, *ledger_write.PROFILES):
            name = "project" if writer == ledger_write.PROJECT else writer
            for floor in ledger_write.FLOORS:
                click.echo(
                    f"ratio ({name}/{floor.removeprefix('floor: ')}, {label}): "
                    f"{by[writer] / by[floor]:.2f}"
                )
    requests, payments, logs, events = written.rows
    click.echo(
        f"  project rows: {requests} requests, {payments} payments, {logs} logs, "
        f"{events} audit events"
    )
    click.echo(
        "  (targets: sequential project <= 1.3x the floor; 10,000 transactions < 5 s "
        "with concurrent writers. The profile rows run the project's statement with the "
        "status-audit triggers off, then the spend trigger too, in this scratch database: "
        "the gap to the project is what those invariants cost; n/a: server not on this "
        "machine)"
    )
    _report_hot(written.hot)
    if written.hot:
        cost = "n/a" if written.audit_event_us is None else f"{written.audit_event_us:.1f}"
        click.echo(
            f"  audit event: {cost} us backend CPU per status change's row ({AUDIT_EVENTS:,} "
            "inserted alone by one server-side loop, rolled back; indexes and key included)"
        )
    click.echo(f"\naudit queries at {audit_rows:,} rows (ms)")
    click.echo(f"  {'query':<24} {'p50':>8} {'p95':>8} {'no-index p50':>13} {'ratio':>8}  index")
    for f in figures:
        ratio = f.baseline_p50_ms / f.p50_ms if f.p50_ms else float("inf")
        click.echo(
            f"  {f.name:<24} {f.p50_ms:8.2f} {f.p95_ms:8.2f} {f.baseline_p50_ms:13.2f} "
            f"{ratio:7.1f}x  {'yes' if f.uses_index else 'NO'}"
        )
    click.echo(
        "  (target: p95 < 20 ms each; ratio = speed-up of the indexes over a seq-scan "
        "baseline measured in this run)"
    )
    for f in figures:
        click.echo(f"\nEXPLAIN {f.name}:")
        for line in f.plan[:12]:
            click.echo(f"  {line}")
