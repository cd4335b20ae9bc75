"""Prioritizer benchmark: the Phase 3 tick at 10, 100 and 1,000 monitored APIs.

Runs in a scratch database (``<name>_pbench``, :func:`run`): one PHASE3 agent
monitors up to 1,000 APIs; ``api_requests`` holds ``requests`` rows (default
1,000,000) over 30 days for it and four other agents.

Two things are timed. The decision: the tick's read (one transaction: the per-API
statement over the staleness index and the small reads), scoring, ranking and
allocation, against the same decision with index scans disabled (same run). The
whole tick: :func:`autopay_app.scheduler.tick.tick` itself (the decision, then in
one transaction the BUYs' paid-fetch jobs, their AGENT_DECISION audit events, one
event for the tick's SKIPs and the pacing state), against the floor of its writes
measured in the same run: plain psycopg writing the same events, jobs and pacing
state in one transaction of the same statements, with nothing decided. Between
timed ticks (untimed) the deferred jobs are dropped and the pacing bucket refilled,
so every tick decides and buys the same.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import click
import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars
from autopay_app.ledger import decisions, monitoring, queue
from autopay_app.models import Agent, AutonomyLevel, SpendPolicy, WalletBalance
from autopay_app.scheduler import prioritizer, tick
from autopay_app.scheduler.config import SchedulerConfig

SIZES = (10, 100, 1000)
BASE = "http://127.0.0.1:8402/api/bench/"
NO_INDEX = "-c enable_indexscan=off -c enable_bitmapscan=off -c enable_indexonlyscan=off"


@dataclass
class Figure:
    """One size's timings in milliseconds.

    ``p50_ms``/``p95_ms`` time the decision alone (the tick's read, scoring,
    ranking, allocation) with the start-up heap frozen as ``autopay serve``
    freezes it (:meth:`AutopayScheduler.start`); ``unfrozen_p95_ms`` is the same
    without the freeze, where a full garbage collection can land in a
    decision; ``tick_p50_ms``/``tick_p95_ms`` time the whole tick (the decision,
    its jobs, its audit events and the pacing state); ``floor_p50_ms``/
    ``floor_p95_ms`` the same writes by plain psycopg, nothing decided.
    """

    apis: int
    p50_ms: float
    p95_ms: float
    unfrozen_p95_ms: float
    baseline_p50_ms: float
    tick_p50_ms: float
    tick_p95_ms: float
    floor_p50_ms: float
    floor_p95_ms: float
    bought: int
    plan: list[str] = field(default_factory=list)

    @property
    def uses_index(self) -> bool:
        return any("ix_api_requests_agent_id_status_created_at" in line for line in self.plan)


def setup(engine: sa.Engine, apis: int = max(SIZES)) -> uuid.UUID:
    """One PHASE3 agent, four others, ``apis`` monitored APIs, policy, settings, balance."""
    with Session(engine) as s, s.begin():
        ids = []
        for n in range(5):
            agent = Agent(
                name=f"bench-{n}",
                wallet_address=f"Bench{n}".ljust(44, "1"),
                autonomy_level=AutonomyLevel.PHASE3,
            )
            s.add(agent)
            s.flush()
            ids.append(agent.id)
        s.add(SpendPolicy(agent_id=ids[0], per_request_cap=Decimal(1), hourly_cap=Decimal(100)))
        s.add(
            WalletBalance(
                agent_id=ids[0],
                wallet_address="Bench0".ljust(44, "1"),
                balance_usdc=Decimal(1000),
                balance_cash=Decimal(1000),
                threshold=Decimal("0.01"),
                last_checked=datetime.now(UTC),
            )
        )
    with Session(engine) as session:
        monitoring.ensure_settings(session, ids[0], Decimal(100), Decimal("0.05"), 5)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO monitored_apis (agent_id, url, weight, price, ttl_seconds, source) "
                "SELECT :a, :base || i, 1 + (i % 7), 0.001 * (1 + i % 50), 15 + (i % 40) * 15, "
                "'config' FROM generate_series(0, :n - 1) AS i"
            ),
            {"a": ids[0], "base": BASE, "n": apis},
        )
    return ids[0]


def fill_requests(engine: sa.Engine, total: int, advance: Callable[[int], None]) -> None:
    """``total`` requests over 30 days: 80 % the bench agent's, a status mix, 1,200 URLs."""
    with engine.connect() as conn:
        agents = [r[0] for r in conn.execute(sa.text("SELECT id FROM agents ORDER BY name"))]
    batch = 100_000
    for start in range(0, total, batch):
        n = min(batch, total - start)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_requests (agent_id, endpoint, url, api_type, status, "
                    "http_status, created_at) SELECT "
                    "CASE WHEN random() < 0.8 THEN CAST(:a0 AS uuid) ELSE "
                    "(CAST(:others AS uuid[]))[1 + floor(random() * 4)::int] END, "
                    "'/api/bench/' || (i % 1200), :base || (i % 1200), 'MARKET_DATA', "
                    "(ARRAY['ACCESSED','ACCESSED','ACCESSED','FAILED','PAID','PENDING'])"
                    "[1 + floor(random() * 6)::int]::request_status, 200, "
                    "now() - random() * interval '30 days' "
                    "FROM generate_series(1, :n) AS i"
                ),
                {"a0": agents[0], "others": agents[1:], "base": BASE, "n": n},
            )
        advance(n)
    # as the ledger and dashboard benchmarks do: the rows settled (hint bits, visibility
    # map) as autovacuum leaves a ledger, not the minutes after a 1,000,000-row bulk load
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE api_requests"))


def _enable(engine: sa.Engine, agent_id: uuid.UUID, apis: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE monitored_apis SET enabled = "
                "(CAST(substring(url from '[0-9]+$') AS int) < :n) WHERE agent_id = :a"
            ),
            {"n": apis, "a": agent_id},
        )


@dataclass
class BenchAgent:
    """What a tick uses of an agent, over ``engine``: no chain, no seller, no catalog."""

    engine: sa.Engine
    agent_id: uuid.UUID
    name: str = "bench-0"

    @dataclass(frozen=True)
    class _Settings:
        premium_api_url: str = BASE

    @dataclass(frozen=True)
    class _Policy:
        max_quote_drift: Decimal = Decimal("0.1")

    class _Catalog:
        def entries(self, base: str) -> list[dict[str, Any]]:
            return []

        def entry(self, url: str) -> dict[str, Any] | None:
            return None

    @property
    def settings(self) -> BenchAgent._Settings:
        return self._Settings()

    @property
    def catalog(self) -> BenchAgent._Catalog:
        return self._Catalog()

    def session(self) -> Session:
        return Session(self.engine)

    def policy(self) -> BenchAgent._Policy:
        return self._Policy()

    def refresh_balances(self) -> None:
        raise AssertionError("the bench agent has a balance row")


CONFIG = SchedulerConfig()


def decide_once(agent: BenchAgent, now: datetime) -> list[prioritizer.Decision]:
    """One decision: the tick's read, candidates, budget, ranking (no purchase)."""
    snap = tick.read(agent, CONFIG, now)
    cands = tick.candidates(snap, agent.catalog.entry)
    return prioritizer.decide(cands, tick.budget_for(snap, cands, now), now)


def tick_once(agent: BenchAgent, now: datetime) -> tick.TickResult:
    """The whole Phase 3 tick (:func:`autopay_app.scheduler.tick.tick`)."""
    return tick.tick(agent, CONFIG, now)


def reset(engine: sa.Engine, agent_id: uuid.UUID) -> None:
    """Untimed, between ticks: no job in flight, a full pacing bucket."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM procrastinate.procrastinate_jobs WHERE task_name = :t"),
            {"t": queue.PAID_FETCH_TASK},
        )
        conn.execute(
            sa.text("UPDATE monitor_settings SET pacing_tokens = NULL WHERE agent_id = :a"),
            {"a": agent_id},
        )


_FLOOR_DEFER = (
    "SELECT procrastinate.procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(%s, %s, 0, l, q, a, "
    "NULL)::procrastinate.procrastinate_job_to_defer_v1 FROM unnest(%s::text[], %s::text[], "
    "%s::jsonb[]) AS t(l, q, a)))"
)
_FLOOR_SETTINGS = (
    "UPDATE monitor_settings SET pacing_tokens = 0, pacing_at = now(), next_plan = NULL, "
    "last_tick_at = now() WHERE agent_id = %s"
)


class Floor:
    """The tick's writes by plain psycopg on one connection: the same jobs, events and
    pacing state, in one transaction of three statements, from prepared documents."""

    def __init__(self, url: str, agent: BenchAgent, now: datetime) -> None:
        result = tick_once(agent, now)  # the rows a tick writes, as it builds them
        reset(agent.engine, agent.agent_id)
        self.agent_id = agent.agent_id
        tick_ms = decisions.tick_ms(now)
        rows = [d.details() | {"tick": tick_ms} for d in result.bought]
        bought = dict.fromkeys((str(d.extra["request_id"]) for d in result.bought), None)
        skips = [
            (d.url, d.reason, d.rank, round(d.scores.score, 6), d.extra or None)
            for d in result.decisions
            if d.action != prioritizer.BUY
        ]
        self.rows = decisions._document(rows, bought, skips, tick_ms)
        jobs = [
            queue.PaidFetchJob(agent.name, d.url, "PHASE3", uuid.uuid4(), uuid.uuid4())
            for d in result.bought
        ]
        self.locks = [j.lock(4) for j in jobs]
        self.queueing = [j.queueing_lock() for j in jobs]
        self.args = [json.dumps(j.args()) for j in jobs]
        libpq = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        self.conn = psycopg.connect(libpq)
        self.insert = decisions._INSERT.text.replace(":agent_id", "%(a)s").replace(":rows", "%(r)s")

    def write(self) -> None:
        with self.conn.transaction():
            task = queue.PAID_FETCH_TASK
            params = (queue.PAID_FETCH_QUEUE, task, self.locks, self.queueing, self.args)
            self.conn.execute(_FLOOR_DEFER, params, prepare=True)
            self.conn.execute(self.insert, {"a": self.agent_id, "r": self.rows}, prepare=True)
            self.conn.execute(_FLOOR_SETTINGS, (self.agent_id,), prepare=True)

    def close(self) -> None:
        self.conn.close()


def _time(
    fn: Callable[[], object], rounds: int, between: Callable[[], object] | None = None
) -> list[float]:
    fn()  # warm caches and plans
    if between:
        between()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
        if between:
            between()
    return out


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def measure(
    url: str, engine: sa.Engine, baseline: sa.Engine, agent_id: uuid.UUID, rounds: int = 100
) -> list[Figure]:
    """Per size: the decision's p50/p95, the no-index baseline's p50, the whole tick's
    p50/p95 and the floor of its writes (ticks and floor rounds interleaved)."""
    figures = []
    now = datetime.now(UTC)
    agent, slow = BenchAgent(engine, agent_id), BenchAgent(baseline, agent_id)
    for size in SIZES:
        _enable(engine, agent_id, size)
        reset(engine, agent_id)
        gc.unfreeze()
        unfrozen = _time(lambda: decide_once(agent, now), rounds)
        gc.freeze()  # as AutopayScheduler.start() does in the serving process
        times = _time(lambda: decide_once(agent, now), rounds)
        base = _time(lambda: decide_once(slow, now), max(3, rounds // 4))
        decided = decide_once(agent, now)
        floor = Floor(url, agent, now)
        ticks, floors = [], []
        try:
            for _ in range(rounds // 10):  # interleaved: both see the same machine
                ticks += _time(lambda: tick_once(agent, now), 10, lambda: reset(engine, agent_id))
                floors += _time(floor.write, 10, lambda: reset(engine, agent_id))
        finally:
            floor.close()
        figures.append(
            Figure(
                apis=size,
                p50_ms=statistics.median(times),
                p95_ms=_p95(times),
                unfrozen_p95_ms=_p95(unfrozen),
                baseline_p50_ms=statistics.median(base),
                tick_p50_ms=statistics.median(ticks),
                tick_p95_ms=_p95(ticks),
                floor_p50_ms=statistics.median(floors),
                floor_p95_ms=_p95(floors),
                bought=sum(d.action == prioritizer.BUY for d in decided),
                plan=explain(engine, agent_id, now),
            )
        )
    return figures


def explain(engine: sa.Engine, agent_id: uuid.UUID, now: datetime) -> list[str]:
    """EXPLAIN of the tick's per-API statement (shows the index it rides)."""
    params = {
        "agent_id": agent_id,
        "cut": now - timedelta(hours=2),
        "fail_cut": now - timedelta(hours=1),
    }
    with engine.connect() as conn:
        query = sa.text("EXPLAIN " + monitoring.STALENESS)
        return [r[0] for r in conn.execute(query, params)]


PLAN_LINES = 16


def run(
    base_url: str, total: int, rounds: int, progress: Bars, *, keep: bool = False
) -> list[Figure]:
    """Decision times for 10, 100 and 1,000 APIs over ``total`` requests, in a scratch
    database (kept with ``keep``)."""
    with scratch.scratch_database(base_url, "pbench", keep=keep) as url:
        engine = sa.create_engine(url)
        baseline = sa.create_engine(url, connect_args={"options": NO_INDEX})
        agent_id = setup(engine)
        with progress("filling api_requests", total=total, unit="rows") as bar:
            fill_requests(engine, total, bar.advance)
        figures = measure(url, engine, baseline, agent_id, rounds)
        engine.dispose()
        baseline.dispose()
    return figures


def report(figures: list[Figure], total: int) -> None:
    """The decision and the whole tick per size, against their same-run baselines."""
    click.echo(f"\nprioritizer per tick, {total:,} requests in the ledger (ms)")
    click.echo(
        f"  {'APIs':>6} {'decide p50':>10} {'p95':>6} {'unfrozen p95':>12} {'no-index p50':>12} "
        f"{'ratio':>6} {'tick p50':>8} {'p95':>7} {'floor p50':>9} {'p95':>7} {'tick/floor':>10} "
        f"{'bought':>6}  index"
    )
    for f in figures:
        ratio = f.baseline_p50_ms / f.p50_ms if f.p50_ms else float("inf")
        over = f.tick_p50_ms / f.floor_p50_ms if f.floor_p50_ms else float("inf")
        click.echo(
            f"  {f.apis:>6} {f.p50_ms:10.2f} {f.p95_ms:6.2f} {f.unfrozen_p95_ms:12.2f} "
            f"{f.baseline_p50_ms:12.2f} {ratio:5.1f}x {f.tick_p50_ms:8.2f} {f.tick_p95_ms:7.2f} "
            f"{f.floor_p50_ms:9.2f} {f.floor_p95_ms:7.2f} {over:9.2f}x {f.bought:>6}  "
            f"{'yes' if f.uses_index else 'NO'}"
        )
    whole = figures[-1]
    click.echo(
        "  decide = the decision alone: the tick's read, scoring, ranking, allocation (no "
        "writes). Start-up heap frozen as 'autopay serve' does (gc.freeze()); 'unfrozen p95' "
        "is without it (a full collection may land in a tick). ratio = speed-up over the same "
        "decision with index scans disabled, measured in this run.\n"
        "  tick = the whole Phase 3 tick (scheduler.tick.tick): the decision, then in one "
        "transaction the BUYs' paid-fetch jobs, one AGENT_DECISION event per BUY, one for "
        "the tick's SKIPs and the pacing state.\n"
        "  floor = the same jobs, events and pacing state written by plain psycopg (prepared "
        "statements, one transaction, nothing decided), interleaved with the ticks.\n"
        f"  target: the whole tick under 50 ms p95 at {whole.apis:,} APIs: "
        f"{whole.tick_p95_ms:.1f} ms p95."
    )
    click.echo("\nEXPLAIN of the staleness statement:")
    for line in figures[-1].plan[:PLAN_LINES]:
        click.echo(f"  {line}")
