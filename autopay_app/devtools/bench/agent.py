"""The agent against the SDK's bare client, in the same run (``autopay bench [agent]``).

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
from solders.keypair import Keypair
from sqlalchemy import create_engine

from autopay_app import db_roles
from autopay_app.agent import Agent
from autopay_app.agent.gateway import bare_sdk_session
from autopay_app.config import Settings
from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars
from autopay_app.ledger import policies
from autopay_app.progress import Progress
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api

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


def report(figures: list[Figure]) -> None:
    """The table, the p50 ratios, and the agent's mean throughput."""
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
    verified = statistics.mean(f.rate for f in figures if f.who == "agent")
    click.echo(f"(agent mean throughput over the runs: {verified:.1f} req/s)")


def _agent(cfg: Settings, url: str, h: HarnessInfo, api: MockApiInfo, tmp: Path) -> Agent:
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


def run(
    cfg: Settings, base_url: str, n: int, worker_counts: list[int], progress: Bars
) -> list[Figure]:
    """``n`` paid fetches by the agent and by the bare SDK client per worker count, in a
    scratch database on ``base_url``'s server, with a fresh harness and mock API."""
    figures: list[Figure] = []
    with (
        scratch.scratch_database(base_url, "agent_bench") as url,
        tempfile.TemporaryDirectory() as tmpdir,
        run_harness(Path(tmpdir) / "h", slot_ms=0) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        tmp = Path(tmpdir)
        agent = _agent(cfg, url, h, api, tmp)
        bare_key = Keypair()
        bare = bare_sdk_session(bare_key, h.rpc_url)
        total = (n * len(worker_counts) + WARM_UP) * 0.05 + 10
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
        for workers in worker_counts:
            label = f"{workers} worker(s): agent and bare SDK"
            with progress(label, total=n * len(clients)) as bar:
                figures.extend(_interleaved(clients, n, workers, bar))
        agent.close()
        bare.close()
    return figures
