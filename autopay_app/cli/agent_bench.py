"""``autopay bench [agent]``: the agent against the SDK's bare client, in the same run.

Both pay the same endpoint of the same mock API through the same harness and
facilitator (fresh processes, slots as fast as possible), sequentially and with
4 and 8 concurrent workers. The agent does everything it always does (ledger
rows, policy, balance guard, write-ahead, on-chain verification); the bare SDK
client only pays. The ratio of their p50 latencies is the agent's overhead.

The two are interleaved request by request (each worker alternates agent and
bare SDK, swapping the order every pair), so both see the same machine: on a
shared two-core VM the speed of the CPU drifts by a factor of two within
minutes, and two back-to-back blocks would compare two different machines.
Throughput is each client's closed-loop rate, ``workers / mean latency``
(Little's law).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import click
from flask.cli import with_appcontext
from solders.keypair import Keypair
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from autopay_app.cli import context
from autopay_app.ledger import databases, policies
from autopay_app.progress import Progress

PATH = "/api/market-feed?symbols=SOL"
WARM_UP = 10


@dataclass(frozen=True)
class Figure:
    who: str
    workers: int
    latencies_ms: list[float]

    def pct(self, q: int) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(q / 100 * (len(data) - 1))))]

    @property
    def rate(self) -> float:
        return self.workers * 1000 / statistics.mean(self.latencies_ms)


def _interleaved(
    clients: dict[str, Callable[[], bool]], n: int, workers: int, progress: Progress
) -> list[Figure]:
    """``n`` calls of each client, alternating within every worker; one Figure each."""
    names = list(clients)
    latencies: dict[str, list[float]] = {name: [] for name in names}

    def pair(i: int) -> None:
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            if not clients[name]():
                raise click.ClickException(f"{name}: a paid request failed during the benchmark")
            latencies[name].append((time.perf_counter() - start) * 1000)  # list.append is atomic
            progress.advance()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(pair, range(n)))
    return [Figure(name, workers, latencies[name]) for name in names]


def _print(figures: list[Figure]) -> None:
    click.echo(f"\n{'client':<10}{'workers':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for f in figures:
        click.echo(
            f"{f.who:<10}{f.workers:>8}{f.rate:>9.1f}{f.pct(50):>9.1f}{f.pct(95):>9.1f}"
            f"{f.pct(99):>9.1f}"
        )
    for workers in sorted({f.workers for f in figures}):
        a, b = (
            next(f for f in figures if f.who == w and f.workers == workers)
            for w in ("agent", "bare SDK")
        )
        label = "" if workers == 1 else f", {workers} workers"
        click.echo(f"ratio (agent/bare SDK, p50{label}): {a.pct(50) / b.pct(50):.2f}")


def _agent(cfg, url: str, h, api, tmp: Path):  # type: ignore[no-untyped-def]
    from autopay_app.agent import Agent

    settings = replace(
        cfg,
        home=tmp,
        solana_rpc_url=h.rpc_url,
        facilitator_url=h.facilitator_url,
        premium_api_url=api.url,
        cash_mint=h.cash_mint,
        keypair_path=tmp / "bench-agent.json",
        agent_name=None,
    )
    from autopay_app import db_roles

    engine = create_engine(url, pool_size=12)
    db_roles.install(engine)  # as in the app: the agent works as the application role
    agent = Agent(settings, engine, http_timeout=10)
    policies.update(
        agent.session(),
        agent.agent_id,
        per_request_cap=1,
        hourly_cap=10**6,
        daily_cap=10**6,
        allowed_assets=["USDC"],
    )
    return agent


@click.command("agent")
@click.option("--requests", "n", default=200, show_default=True, type=click.IntRange(10))
@click.option("--workers", "worker_counts", default="1,4,8", show_default=True)
@with_appcontext
def agent_bench(n: int, worker_counts: str) -> None:
    """N paid fetches by the agent and by the bare SDK client; p50/p95/p99 and the ratio."""
    from autopay_app.agent.gateway import bare_sdk_session
    from harness.testing import run_harness
    from mock_premium_api.testing import run_mock_api

    base = context.database_url()
    name = f"{make_url(base).database}_agent_bench"
    url = databases.create_database(base, name)
    figures: list[Figure] = []
    try:
        databases.migrate(url)
        with (
            tempfile.TemporaryDirectory() as tmpdir,
            run_harness(Path(tmpdir) / "h", slot_ms=0) as h,
            run_mock_api(
                facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
            ) as api,
        ):
            tmp = Path(tmpdir)
            agent = _agent(context.settings(), url, h, api, tmp)
            bare_key = Keypair()
            bare = bare_sdk_session(bare_key, h.rpc_url)
            total = (n * len(worker_counts.split(",")) + WARM_UP) * 0.05 + 10
            h.fund(agent.address, usdc=total, cash=1)
            h.fund(str(bare_key.pubkey()), usdc=total, cash=1)
            target = api.url + PATH
            clients = {
                "agent": lambda: agent.fetch(target).status == "ACCESSED",
                "bare SDK": lambda: bare.get(target, timeout=30).status_code == 200,
            }
            for _ in range(WARM_UP):  # connections, prepared statements, caches
                for client in clients.values():
                    client()
            for workers in (int(w) for w in worker_counts.split(",")):
                label = f"{workers} worker(s): agent and bare SDK"
                with context.progress(label, total=n * len(clients)) as progress:
                    figures.extend(_interleaved(clients, n, workers, progress))
            agent.close()
            bare.close()
    finally:
        databases.drop_database(base, name)
    _print(figures)
    verified = statistics.mean(f.rate for f in figures if f.who == "agent")
    click.echo(f"(agent mean throughput over the runs: {verified:.1f} req/s)")
