"""Prioritizer benchmark: decision time for 10, 100 and 1,000 monitored APIs.

Runs in a scratch database (``<name>_pbench``, :func:`run`): one PHASE3 agent
monitors up to 1,000 APIs; ``api_requests`` holds ``requests`` rows (default
1,000,000) over 30 days for it and four other agents. A decision is the tick
without the purchases and without its writes: the snapshot read (the indexed
staleness statement and the small reads), scoring, ranking and allocation.
Separately timed, the same decision followed by its writes (one AGENT_DECISION
audit event per API and the pacing state): a tick that buys nothing. The
baseline is the decision with index scans disabled, measured in the same run.
"""

from __future__ import annotations

import gc
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars
from autopay_app.ledger import monitoring
from autopay_app.models import Agent, AutonomyLevel, SpendPolicy, WalletBalance
from autopay_app.scheduler import prioritizer
from autopay_app.scheduler.tick import budget_for, candidates, window_for

SIZES = (10, 100, 1000)
BASE = "http://127.0.0.1:8402/api/bench/"
NO_INDEX = "-c enable_indexscan=off -c enable_bitmapscan=off -c enable_indexonlyscan=off"


@dataclass
class Figure:
    """One size's timings in milliseconds.

    ``p50_ms``/``p95_ms`` time the decision alone (snapshot read, scoring,
    ranking, allocation) with the start-up heap frozen as ``autopay serve``
    freezes it (:meth:`AutopayScheduler.start`); ``unfrozen_p95_ms`` is the same
    without the freeze, where a full garbage collection can land in a
    decision; ``tick_p50_ms``/``tick_p95_ms`` time the decision
    plus its writes (one AGENT_DECISION audit event per API and the pacing
    state, one transaction), i.e. a tick that buys nothing.
    """

    apis: int
    p50_ms: float
    p95_ms: float
    unfrozen_p95_ms: float
    baseline_p50_ms: float
    tick_p50_ms: float
    tick_p95_ms: float
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
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE api_requests"))


def _enable(engine: sa.Engine, agent_id: uuid.UUID, apis: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE monitored_apis SET enabled = "
                "(CAST(substring(url from '[0-9]+$') AS int) < :n) WHERE agent_id = :a"
            ),
            {"n": apis, "a": agent_id},
        )


def decide_once(engine: sa.Engine, agent_id: uuid.UUID, now: datetime) -> list:  # type: ignore[type-arg]
    """One decision: snapshot, candidates, budget, ranking (no purchase)."""
    with Session(engine) as session:
        snap = monitoring.snapshot(session, agent_id, now, window_for=window_for)
    cands = candidates(snap, lambda url: None)
    return prioritizer.decide(cands, budget_for(snap, cands, now), now)


def decide_and_record(engine: sa.Engine, agent_id: uuid.UUID, now: datetime) -> None:
    """A tick that buys nothing: the decision, then its audit events and pacing state."""
    decided = decide_once(engine, agent_id, now)
    with Session(engine) as session:
        monitoring.record_tick(
            session,
            agent_id,
            [d.details() for d in decided],
            tokens=Decimal(0),
            at=now,
            plan=prioritizer.plan(decided, budget_for_plan(), now, Decimal(0)),
        )


def _time(fn: Callable[[], object], rounds: int) -> list[float]:
    fn()  # warm caches and plans
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def measure(
    engine: sa.Engine, baseline: sa.Engine, agent_id: uuid.UUID, rounds: int = 100
) -> list[Figure]:
    """Per size: the decision's p50/p95, the no-index baseline's p50, the tick with writes."""
    figures = []
    now = datetime.now(UTC)
    for size in SIZES:
        _enable(engine, agent_id, size)
        gc.unfreeze()
        unfrozen = _time(lambda: decide_once(engine, agent_id, now), rounds)
        gc.freeze()  # as AutopayScheduler.start() does in the serving process
        times = _time(lambda: decide_once(engine, agent_id, now), rounds)
        base = _time(lambda: decide_once(baseline, agent_id, now), max(3, rounds // 4))
        decided = decide_once(engine, agent_id, now)
        ticks = _time(lambda: decide_and_record(engine, agent_id, now), rounds)
        with engine.begin() as conn:  # a full bucket again for the next size
            conn.execute(sa.text("UPDATE monitor_settings SET pacing_tokens = NULL"))
        figures.append(
            Figure(
                apis=size,
                p50_ms=statistics.median(times),
                p95_ms=_p95(times),
                unfrozen_p95_ms=_p95(unfrozen),
                baseline_p50_ms=statistics.median(base),
                tick_p50_ms=statistics.median(ticks),
                tick_p95_ms=_p95(ticks),
                bought=sum(d.action == prioritizer.BUY for d in decided),
                plan=explain(engine, agent_id, now),
            )
        )
    return figures


def budget_for_plan() -> prioritizer.Budget:
    return prioritizer.Budget(Decimal(0), Decimal(0), Decimal(0), Decimal(0), {}, Decimal(0))


def explain(engine: sa.Engine, agent_id: uuid.UUID, now: datetime) -> list[str]:
    """EXPLAIN of the staleness statement (shows the index it rides)."""
    query = monitoring.stats_query(agent_id, now - timedelta(hours=2), now - timedelta(hours=1))
    compiled = query.compile(engine, compile_kwargs={"render_postcompile": True})
    params = {k: str(v) if isinstance(v, str) else v for k, v in compiled.params.items()}
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params)]


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
        figures = measure(engine, baseline, agent_id, rounds)
        engine.dispose()
        baseline.dispose()
    return figures


def report(figures: list[Figure], total: int) -> None:
    """The decision times per size against the same-run no-index baseline, and the plan."""
    click.echo(f"\nprioritizer per tick, {total:,} requests in the ledger (ms)")
    click.echo(
        f"  {'APIs':>6} {'decide p50':>10} {'p95':>6} {'unfrozen p95':>12} {'no-index p50':>12} "
        f"{'ratio':>6} {'+writes p50':>11} {'p95':>7} {'bought':>6}  index"
    )
    for f in figures:
        ratio = f.baseline_p50_ms / f.p50_ms if f.p50_ms else float("inf")
        click.echo(
            f"  {f.apis:>6} {f.p50_ms:10.2f} {f.p95_ms:6.2f} {f.unfrozen_p95_ms:12.2f} "
            f"{f.baseline_p50_ms:12.2f} {ratio:5.1f}x {f.tick_p50_ms:11.2f} {f.tick_p95_ms:7.2f} "
            f"{f.bought:>6}  {'yes' if f.uses_index else 'NO'}"
        )
    click.echo(
        "  decide = the timed decision: snapshot read, scoring, ranking, allocation; the "
        "audit-event writes are OUTSIDE it. Start-up heap frozen as 'autopay serve' does "
        "(gc.freeze()); 'unfrozen p95' is without it (a full collection may land in a tick).\n"
        "  +writes = the decision plus its writes (one AGENT_DECISION event per API and the "
        "pacing state, one transaction): a tick that buys nothing.\n"
        "  target: decide p95 < 50 ms at 1,000 APIs; ratio = speed-up over the same decision "
        "with index scans disabled, measured in this run."
    )
    click.echo("\nEXPLAIN of the staleness statement:")
    for line in figures[-1].plan[:12]:
        click.echo(f"  {line}")
