"""Paid fetches through the queue (``autopay bench workers``): throughput and queue overhead.

A scratch database, a fresh harness and mock API, one funded agent whose keypair
file the ``autopay worker`` processes load. Two measurements, in the same run:

* **Overhead**: with one idle worker, ``n`` rounds of a direct ``agent.fetch`` in
  this process and a queued one (defer, a worker takes it, pays, finishes), in
  turn. The queue's added latency is *defer to start*: the job's ``deferred`` and
  ``started`` events (PostgreSQL's clock, both), p50/p95, against the direct
  fetch's whole latency.
* **Throughput**: for each worker count (1, 2, 4 processes of ``--concurrency``
  jobs each), ``n`` jobs deferred at once; paid fetches per second from the commit
  to the last job's end, and the CPU used meanwhile (every process's user+system
  time from ``/proc``: workers, mock API, harness, PostgreSQL) against the
  machine's cores ("CPU busy"), and how busy the cores were whatever ran on them
  ("machine", from ``/proc/stat``: on a shared machine, others' work counts there).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.agent import Agent
from autopay_app.config import Settings
from autopay_app.devtools import scratch
from autopay_app.devtools.bench import Bars, cpu
from autopay_app.devtools.bench.agent import _agent, _backends
from autopay_app.ledger import policies, queue
from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api

PATH = "/api/market-feed?symbols=SOL&bench="
#: Slots of 20 ms: a blockhash lives 3 s, longer than a paid fetch takes on a loaded machine
#: (as fast as possible, a queue of 16 concurrent fetches on two cores outlives it).
SLOT_MS = 20
READY = "WORKER READY "
EVENTS = sa.text(
    "SELECT max(at) FILTER (WHERE type = 'deferred'), max(at) FILTER (WHERE type = 'started'),"
    " max(at) FILTER (WHERE type = 'succeeded')"
    " FROM procrastinate.procrastinate_events WHERE job_id = :id"
)
DONE = sa.text(
    "SELECT count(*) FROM procrastinate.procrastinate_jobs"
    " WHERE task_name = 'paid_fetch' AND status::text IN ('succeeded', 'failed')"
)


@dataclass(frozen=True)
class Throughput:
    workers: int
    jobs: int
    seconds: float
    cpu_s: dict[str, float | None]
    machine_busy: float  # share of all cores busy meanwhile, whatever ran on them

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    def busy(self) -> float:
        """Share of the machine's cores the benchmark's parts used meanwhile."""
        used = sum(s for s in self.cpu_s.values() if s is not None)
        return used / (self.seconds * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Results:
    direct_ms: list[float]
    queued_ms: list[float]
    defer_to_start_ms: list[float]
    throughput: list[Throughput]
    concurrency: int
    agents: int


def pct(data: list[float], q: int) -> float:
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _env(url: str, h: HarnessInfo, api: MockApiInfo, agent: Agent, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "AUTOPAY_HOME": str(home),
        "AUTOPAY_KEYPAIR": str(agent.settings.keypair_path),
        "SOLANA_RPC_URL": h.rpc_url,
        "X402_FACILITATOR_URL": h.facilitator_url,
        "PREMIUM_API_URL": api.url,
        "CASH_MINT": h.cash_mint,
        "AUTOPAY_AGENT_CONCURRENCY": "256",
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def _workers(env: dict[str, str], count: int, concurrency: int) -> Iterator[list[int]]:
    """``count`` ``autopay worker`` processes, ready; stopped (SIGTERM, by pid) on exit."""
    procs = []
    command = [sys.executable, "-c", "from autopay_app.cli import main; main()", "worker"]
    try:
        for _ in range(count):
            proc = subprocess.Popen(
                [*command, "--concurrency", str(concurrency), "--parent-pid", str(os.getpid())],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith(READY):
                raise click.ClickException(f"autopay worker did not start: {line!r}")
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


def _defer(engine: sa.Engine, agents: list[str], urls: list[str]) -> list[int]:
    """Queue one paid fetch per URL in one transaction (as the Phase 3 leader does), the
    agents taking turns."""
    with Session(engine) as session, session.begin():
        ids = []
        for i, url in enumerate(urls):
            job = queue.PaidFetchJob(agents[i % len(agents)], url, "CLI", uuid.uuid4())
            job_id = queue.defer(session, job, 256)
            if job_id is None:
                raise click.ClickException(f"{url} is queued already")
            ids.append(job_id)
    return ids


def _wait_done(engine: sa.Engine, total: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as conn:
            if int(conn.scalar(DONE) or 0) >= total:
                return
        if time.monotonic() > deadline:
            raise click.ClickException("the workers did not finish the queued fetches in time")
        time.sleep(0.01)


def _overhead(
    engine: sa.Engine, agent: Agent, base: str, n: int, before: int, bar: Any
) -> tuple[list[float], list[float], list[float]]:
    """``n`` rounds of a direct fetch and a queued one (``before`` jobs already done)."""
    direct: list[float] = []
    queued: list[float] = []
    waits: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        if agent.fetch(f"{base}d{i}").status != "ACCESSED":
            raise click.ClickException("a direct paid fetch failed during the benchmark")
        direct.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        (job_id,) = _defer(engine, [agent.name], [f"{base}q{i}"])
        _wait_done(engine, before + i + 1)
        queued.append((time.perf_counter() - start) * 1000)
        with engine.connect() as conn:
            row: Any = conn.execute(EVENTS, {"id": job_id}).one()
        deferred, started = row[0], row[1]
        waits.append((started - deferred).total_seconds() * 1000)
        bar.advance()
    return direct, queued, waits


def run(
    cfg: Settings,
    base_url: str,
    n: int,
    worker_counts: list[int],
    concurrency: int,
    progress: Bars,
    agents: int = 1,
) -> Results:
    """The overhead rounds, then the throughput runs (their jobs spread over ``agents``
    agents, each with its own spend lock); see the module docstring."""
    throughput = []
    with (
        scratch.scratch_database(base_url, "workers_bench") as url,
        tempfile.TemporaryDirectory() as tmpdir,
        run_harness(Path(tmpdir) / "h", slot_ms=SLOT_MS) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        tmp = Path(tmpdir)
        agent = _agent(cfg, url, h, [(api.url, api.pay_to)], tmp)
        h.fund(agent.address, usdc=n * (2 + len(worker_counts)) * 0.01 + 5, cash=1)
        engine = sa.create_engine(url)
        env = _env(url, h, api, agent, tmp)
        names = [agent.name, *_more_agents(agent, engine, h, agents - 1, n, tmp / "keys")]
        env["AUTOPAY_KEYS_DIR"] = str(tmp / "keys")
        base = api.url + PATH
        done = 0
        with _workers(env, 1, 1), progress("overhead: direct and queued", total=n) as bar:
            agent.fetch(f"{base}warm")  # connections and caches of this process
            _defer(engine, [agent.name], [f"{base}warm-q"])
            _wait_done(engine, 1)
            direct, queued, waits = _overhead(engine, agent, base, n, 1, bar)
            done = n + 1
        meter = cpu.Meter(
            {
                "mock API": lambda: cpu.tree(api.pid),
                "harness": lambda: cpu.tree(h.pid),
                "PostgreSQL": _backends(url),
            }
        )
        for count in worker_counts:
            with _workers(env, count, concurrency) as pids:
                meter.parts["workers"] = _trees(pids)
                urls = [f"{base}w{count}-{i}" for i in range(n)]
                with progress(f"{count} worker process(es)", total=1) as bar:
                    meter.start()
                    machine = machine_ticks()
                    start = time.perf_counter()
                    _defer(engine, names, urls)
                    _wait_done(engine, done + n)
                    seconds = time.perf_counter() - start
                    used = meter.stop()
                    busy = busy_share(machine, machine_ticks())
                    bar.advance()
                done += n
                throughput.append(Throughput(count, n, seconds, used, busy))
        failed = _failed(engine)
        engine.dispose()
        agent.close()
    if failed:
        raise click.ClickException(
            f"{len(failed)} paid fetches failed during the benchmark: " + "; ".join(failed[:5])
        )
    return Results(direct, queued, waits, throughput, concurrency, len(names))


def _more_agents(
    first: Agent, engine: sa.Engine, h: HarnessInfo, count: int, n: int, keys: Path
) -> list[str]:
    """``count`` more funded agents with ``first``'s policy, their keypairs in ``keys``."""
    keys.mkdir(exist_ok=True)
    policy = first.policy()
    names = []
    for i in range(count):
        name = f"bench-{i + 1}"
        settings = replace(first.settings, keypair_path=keys / f"{name}.json", agent_name=name)
        extra = Agent(settings, engine)
        policies.update(
            extra.session(),
            extra.agent_id,
            **{f: getattr(policy, f) for f in policies.EDITABLE if f != "api_caps"},
        )
        h.fund(extra.address, usdc=n * 0.05 + 5, cash=1)
        extra.close()
        names.append(name)
    return names


def machine_ticks() -> tuple[int, int]:
    """All CPUs' (busy, total) jiffies so far, from ``/proc/stat``."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def _trees(roots: list[int]) -> cpu.Pids:
    return lambda: [pid for root in roots for pid in cpu.tree(root)]


def _failed(engine: sa.Engine) -> list[str]:
    """Why any paid fetch of the run did not end ACCESSED."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT r.url, r.status::text, e.category::text, e.message FROM api_requests r "
                "LEFT JOIN error_classifications e ON e.api_request_id = r.id "
                "WHERE r.status::text <> 'ACCESSED'"
            )
        ).all()
    return [" ".join(str(c) for c in row) for row in rows]


def report(results: Results) -> None:
    """The overhead table and the throughput table, with the CPU use."""
    click.echo(f"\n{'one paid fetch (1 idle worker)':<34}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    rows = [
        ("direct agent.fetch", results.direct_ms),
        ("queued: defer -> finished", results.queued_ms),
        ("queue overhead: defer -> start", results.defer_to_start_ms),
    ]
    for label, data in rows:
        click.echo(
            f"{label:<34}{pct(data, 50):>9.1f}{pct(data, 95):>9.1f}{statistics.mean(data):>9.1f}"
        )
    click.echo(
        f"queue overhead / direct fetch (p50): "
        f"{pct(results.defer_to_start_ms, 50) / pct(results.direct_ms, 50):.2f}"
    )
    parts = ("workers", "mock API", "harness", "PostgreSQL")
    click.echo(
        f"\nthroughput ({results.concurrency} jobs per worker process, {results.agents} agent(s), "
        f"{os.cpu_count()} CPU cores)"
    )
    click.echo(
        f"{'workers':>8}{'fetches/s':>11}{'CPU busy':>10}{'machine':>9}"
        + "".join(f"{p + ' ms/fetch':>22}" for p in parts)
    )
    first = results.throughput[0].rate if results.throughput else 1.0
    for t in results.throughput:
        per_fetch = [t.cpu_s.get(p) for p in parts]
        cells = "".join(
            f"{'n/a':>22}" if s is None else f"{s * 1000 / t.jobs:>22.2f}" for s in per_fetch
        )
        click.echo(f"{t.workers:>8}{t.rate:>11.1f}{t.busy():>9.0%} {t.machine_busy:>8.0%} {cells}")
        click.echo(f"{'':>8}scaling vs 1 worker: {t.rate / first:.2f}x")
