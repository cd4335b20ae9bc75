"""The agent against the x402 SDK alone, in the same run (``autopay bench [agent]``).

Two sellers on one harness (fresh processes, slots as fast as possible): the
project's mock API, and a seller written only with the x402 SDK
(:mod:`~autopay_app.devtools.bench.sdk_seller`: its Flask middleware and its own
facilitator object). Two buyers pay both: the SDK's bare client (it only pays)
and the agent (ledger rows, policy, balance guard, write-ahead, on-chain
verification). That makes four clients, timed sequentially and with 4 and 8
concurrent workers:

* ``ratio (agent/bare SDK, p50)``: agent -> SDK seller over bare SDK -> SDK
  seller, the agent's own overhead on a neutral seller;
* ``seller ratio (mock API/SDK seller, bare SDK, p50)``: what the mock API costs
  over the SDK's seller, with the same bare client.

The four are interleaved request by request (each worker runs all four in turn,
in an order that goes through every permutation, so each client follows each
other one equally often), so all see the same machine: on a shared
two-core VM the speed of the CPU drifts by a factor of two within minutes, and
back-to-back blocks would compare different machines. Throughput is each
client's closed-loop rate, ``workers / mean latency`` (Little's law).

Then each client runs alone, sequentially, while :mod:`~autopay_app.devtools.bench.cpu`
reads the CPU time of every process from ``/proc``: CPU seconds per paid
request of the client (the benchmark process: the agent or the bare client), the
seller it pays, the harness (RPC and chain), and PostgreSQL (the backends of the
benchmark's database).
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import click
from solders.keypair import Keypair
from sqlalchemy import Integer, create_engine, text
from sqlalchemy.pool import NullPool

from autopay_app import db_liveness, db_roles
from autopay_app.agent import Agent
from autopay_app.agent.gateway import bare_sdk_session
from autopay_app.config import Settings
from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars, cpu, sdk_seller
from autopay_app.ledger import policies
from autopay_app.progress import Progress
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api, start_process, stop_process

MOCK_PATH = "/api/market-feed?symbols=SOL"
SDK_PATH = sdk_seller.PATH + "?symbols=SOL"
WARM_UP = 10
BARE_SDK, BARE_MOCK = "bare SDK -> SDK seller", "bare SDK -> mock API"
AGENT_SDK, AGENT_MOCK = "agent -> SDK seller", "agent -> mock API"
CLIENTS = (BARE_SDK, BARE_MOCK, AGENT_SDK, AGENT_MOCK)
PARTS = ("client/agent", "seller", "harness", "PostgreSQL")
BACKENDS = text(
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
).columns(pid=Integer)


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


@dataclass(frozen=True)
class CpuFigure:
    """CPU seconds per paid request of each part, for one client run alone."""

    who: str
    requests: int
    seconds: dict[str, float | None]


@dataclass(frozen=True)
class Results:
    figures: list[Figure]
    cpu: list[CpuFigure]


@dataclass(frozen=True)
class SdkSellerInfo:
    url: str
    pay_to: str
    fee_payer: str
    pid: int


@contextmanager
def run_sdk_seller(rpc_url: str) -> Iterator[SdkSellerInfo]:
    """Start the SDK-only seller on a free loopback port; stop it (by its pid) on exit."""
    cmd = [sys.executable, "-m", sdk_seller.__name__, "--rpc-url", rpc_url]
    cmd += ["--parent-pid", str(os.getpid())]
    proc, data = start_process(cmd, dict(os.environ), sdk_seller.READY_PREFIX)
    try:
        yield SdkSellerInfo(data["url"], data["pay_to"], data["fee_payer"], int(data["pid"]))
    finally:
        stop_process(proc)


def _call(name: str, client: Callable[[], bool]) -> None:
    """One paid request; a failure (refused or an error on the way) stops the run with one line."""
    try:
        ok = client()
    except Exception as exc:  # a connection error of a bare client: one line, not a traceback
        raise click.ClickException(f"{name}: a paid request failed: {exc}") from exc
    if not ok:
        raise click.ClickException(f"{name}: a paid request failed during the benchmark")


def _order(names: list[str], i: int) -> list[str]:
    """Round ``i``'s order: the permutations of ``names`` in turn, so each client follows
    each other client equally often (a request right after an agent's runs on a machine
    still busy with the agent's background work)."""
    orders = list(itertools.permutations(names))
    return list(orders[i % len(orders)])


def _interleaved(
    clients: dict[str, Callable[[], bool]], n: int, workers: int, progress: Progress
) -> list[Figure]:
    """``n`` calls of each client, taking turns within every worker; one Figure each."""
    names = list(clients)
    latencies: dict[str, list[float]] = {name: [] for name in names}

    def round_(i: int) -> None:
        for name in _order(names, i):
            start = time.perf_counter()
            _call(name, clients[name])
            latencies[name].append((time.perf_counter() - start) * 1000)  # list.append is atomic
            progress.advance()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(round_, range(n)))
    return [Figure(name, workers, latencies[name]) for name in names]


def _alone(
    clients: dict[str, Callable[[], bool]],
    n: int,
    meter: cpu.Meter,
    progress: Progress,
    drain: Callable[[], bool],
) -> list[CpuFigure]:
    """Each client alone, ``n`` sequential calls, with every process's CPU time read
    (``drain``: the agent's work after its last return, its VERIFIED writes, included)."""
    figures = []
    for name, client in clients.items():
        meter.start()
        for _ in range(n):
            _call(name, client)
            progress.advance()
        drain()
        used = meter.stop()
        seller = "SDK seller" if name.endswith("SDK seller") else "mock API"
        seconds = {
            "client/agent": used["bench"],
            "seller": used[seller],
            "harness": used["harness"],
            "PostgreSQL": used["PostgreSQL"],
        }
        figures.append(CpuFigure(name, n, seconds))
    return figures


def _get(figures: list[Figure], who: str, workers: int) -> Figure:
    return next(f for f in figures if f.who == who and f.workers == workers)


def report(results: Results) -> None:
    """The latency table, the ratios, and the CPU table."""
    figures = results.figures
    click.echo(f"\n{'client':<24}{'workers':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for f in figures:
        click.echo(
            f"{f.who:<24}{f.workers:>8}{f.rate:>9.1f}{f.pct(50):>9.1f}{f.pct(95):>9.1f}"
            f"{f.pct(99):>9.1f}"
        )
    click.echo("")
    for workers in sorted({f.workers for f in figures}):
        label = "" if workers == 1 else f", {workers} workers"
        agent, bare = _get(figures, AGENT_SDK, workers), _get(figures, BARE_SDK, workers)
        mock = _get(figures, BARE_MOCK, workers)
        agent_mock = _get(figures, AGENT_MOCK, workers)
        click.echo(f"ratio (agent/bare SDK, p50{label}): {agent.pct(50) / bare.pct(50):.2f}")
        click.echo(
            f"seller ratio (mock API/SDK seller, bare SDK, p50{label}): "
            f"{mock.pct(50) / bare.pct(50):.2f}"
        )
        click.echo(
            f"ratio on the mock API (agent/bare SDK, p50{label}): "
            f"{agent_mock.pct(50) / mock.pct(50):.2f}"
        )
        click.echo(f"throughput (agent/bare SDK, SDK seller{label}): {agent.rate / bare.rate:.2f}")
    if results.cpu:
        n = results.cpu[0].requests
        click.echo(f"\nCPU ms per paid request (each client alone, {n} sequential requests)")
        click.echo(f"{'client':<24}" + "".join(f"{p:>14}" for p in PARTS) + f"{'total':>10}")
        for c in results.cpu:
            cells = [c.seconds[p] for p in PARTS]
            shown = "".join(
                f"{'n/a':>14}" if s is None else f"{s * 1000 / n:>14.2f}" for s in cells
            )
            total = sum(s for s in cells if s is not None) * 1000 / n
            click.echo(f"{c.who:<24}{shown}{total:>10.2f}")


def _agent(
    cfg: Settings, url: str, h: HarnessInfo, sellers: list[tuple[str, str]], tmp: Path
) -> Agent:
    """The agent, allowed to pay every ``(base URL, pay_to)`` of ``sellers``."""
    settings = replace(
        cfg,
        home=tmp,
        solana_rpc_url=h.rpc_url,
        facilitator_url=h.facilitator_url,
        premium_api_url=sellers[0][0],
        cash_mint=h.cash_mint,
        keypair_path=tmp / "bench-agent.json",
        agent_name=None,
    )
    engine = create_engine(url, pool_size=12)
    db_liveness.install(engine)  # as in the app: dropped connections replaced at checkout
    db_roles.install(engine)  # as in the app: the agent works as the application role
    agent = Agent(settings, engine, http_timeout=10)
    policies.update(
        agent.session(),
        agent.agent_id,
        per_request_cap=1,
        hourly_cap=10**6,
        daily_cap=10**6,
        allowed_assets=["USDC"],
        allowed_hosts=[urlsplit(base).netloc for base, _ in sellers],
        allowed_recipients=[pay_to for _, pay_to in sellers],
    )
    return agent


def _backends(url: str) -> Callable[[], list[int]]:
    """The pids of the PostgreSQL backends serving ``url``'s database (one short
    connection per reading, so none is left open when the database is dropped)."""
    engine = create_engine(url, poolclass=NullPool)

    def pids() -> list[int]:
        with engine.connect() as conn:
            rows: list[int] = list(conn.execute(BACKENDS).scalars())
            return [int(pid) for pid in rows]

    return pids


def _meter(url: str, h: HarnessInfo, api: MockApiInfo, sdk: SdkSellerInfo) -> cpu.Meter:
    return cpu.Meter(
        {
            "bench": lambda: [os.getpid()],
            "SDK seller": lambda: cpu.tree(sdk.pid),
            "mock API": lambda: cpu.tree(api.pid),
            "harness": lambda: cpu.tree(h.pid),
            "PostgreSQL": _backends(url),
        }
    )


@contextmanager
def _stack(tmpdir: str) -> Iterator[tuple[HarnessInfo, MockApiInfo, SdkSellerInfo]]:
    with (
        run_harness(Path(tmpdir) / "h", slot_ms=0) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
        run_sdk_seller(h.rpc_url) as sdk,
    ):
        h.fund(sdk.fee_payer, sol=100)  # the SDK's facilitator pays the fees
        h.fund(sdk.pay_to, usdc=0)  # the exact scheme never creates the seller's account
        yield h, api, sdk


def run(cfg: Settings, base_url: str, n: int, worker_counts: list[int], progress: Bars) -> Results:
    """``n`` paid fetches by each of the four clients per worker count, then ``n`` each
    alone with CPU readings, in a scratch database on ``base_url``'s server, with a
    fresh harness, mock API and SDK-only seller."""
    figures: list[Figure] = []
    with (
        scratch.scratch_database(base_url, "agent_bench") as url,
        tempfile.TemporaryDirectory() as tmpdir,
        _stack(tmpdir) as (h, api, sdk),
    ):
        tmp = Path(tmpdir)
        agent = _agent(cfg, url, h, [(api.url, api.pay_to), (sdk.url, sdk.pay_to)], tmp)
        bare_key = Keypair()
        bare = bare_sdk_session(bare_key, h.rpc_url)
        total = (n * (len(worker_counts) + 1) + WARM_UP) * 2 * 0.05 + 10
        h.fund(agent.address, usdc=total, cash=1)
        h.fund(str(bare_key.pubkey()), usdc=total, cash=1)
        mock_target, sdk_target = api.url + MOCK_PATH, sdk.url + SDK_PATH
        clients: dict[str, Callable[[], bool]] = {
            BARE_SDK: lambda: bare.get(sdk_target, timeout=30).status_code == 200,
            BARE_MOCK: lambda: bare.get(mock_target, timeout=30).status_code == 200,
            AGENT_SDK: lambda: agent.fetch(sdk_target).status == "ACCESSED",
            AGENT_MOCK: lambda: agent.fetch(mock_target).status == "ACCESSED",
        }
        for _ in range(WARM_UP):  # connections, prepared statements, caches
            for name, client in clients.items():
                _call(name, client)
        for workers in worker_counts:
            with progress(f"{workers} worker(s): four clients", total=n * len(clients)) as bar:
                figures.extend(_interleaved(clients, n, workers, bar))
            agent.wait_verified()  # the next run starts with nothing of this one running
        with progress("CPU: each client alone", total=n * len(clients)) as bar:
            meter = _meter(url, h, api, sdk)
            cpu_figures = _alone(clients, n, meter, bar, agent.wait_verified)
        agent.close()
        bare.close()
    return Results(figures, cpu_figures)
