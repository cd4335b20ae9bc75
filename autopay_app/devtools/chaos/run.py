"""``autopay chaos``: the full stack under seeded random faults, then the verdict.

A dedicated embedded PostgreSQL (under AUTOPAY_HOME/chaos, started fresh), a
fresh harness and mock API, and the product's own processes: one ``autopay
scheduler`` (the Phase 3 leader deciding for every agent and queueing its buys)
and ``WORKERS`` ``autopay worker`` processes (procrastinate) running them, for
``AGENTS`` PHASE3 agents whose monitored APIs are paid half in USDC and half in
CASH (Token-2022). A seeded schedule injects RPC latency, errors, hangs and 429s,
dropped and delayed transactions, facilitator failures and slow settlements,
seller 5xx after settlement, SIGKILLs of those processes (restarted; a killed
worker's jobs come back through stalled-job recovery) and an immediate-mode stop
of PostgreSQL (restarted). Then the faults stop, the leader and the workers stop,
every agent reconciles (after the chain has moved past every blockhash), and
:mod:`autopay_app.devtools.chaos.checks` compares the chain with the ledger, per
agent and asset.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app import embedded_db
from autopay_app.config import Settings
from autopay_app.devtools import scratch, secret_scan
from autopay_app.devtools.chaos import checks, faults
from autopay_app.ledger import agents, backup, monitoring, policies
from autopay_app.models import AutonomyLevel
from autopay_app.secrets import SecretBox, load_or_create_key_material

#: The agents of a run; each pays half its APIs in USDC, half in CASH.
AGENTS = ("chaos-a", "chaos-b", "chaos-c")
ASSETS = ("USDC", "CASH")
WORKERS = 2
LEADER = "leader"
FUNDING = {"USDC": Decimal(400), "CASH": Decimal(400)}
#: What the agents monitor: (path, query variants, price); every variant is its own API.
APIS = (
    ("/api/market-feed", ("symbols=SOL", "symbols=BTC", "symbols=ETH", "symbols=SOL,BTC"), "0.01"),
    ("/api/knowledge/sentiment", ("asset=SOL", "asset=BTC", "asset=ETH"), "0.01"),
    ("/api/knowledge/insights", ("topic=SOL", "topic=market"), "0.02"),
    ("/api/arbitrage-signals", ("min_spread_bps=5",), "0.05"),
)
#: The processes' settings: short ticks and TTLs (a busy queue), dead workers noticed fast.
PROCESS_ENV = {
    "AUTOPAY_SCHEDULER_JOBS": "prioritizer,settle",
    "AUTOPAY_TICK_S": "0.3",
    "AUTOPAY_LEADER_RETRY_S": "0.5",
    "AUTOPAY_MAINTENANCE_INTERVAL_S": "5",
    "AUTOPAY_RECONCILE_AFTER_S": "30",
    "AUTOPAY_WORKER_CONCURRENCY": "4",
    "AUTOPAY_AGENT_CONCURRENCY": "3",
    "AUTOPAY_WORKER_HEARTBEAT_S": "0.5",
    "AUTOPAY_STALLED_AFTER_S": "3",
    "AUTOPAY_STALLED_CHECK_S": "1",
    "AUTOPAY_RETRY_BASE_S": "0.05",
    "AUTOPAY_HTTP_TIMEOUT_S": "3",
}


@dataclass
class Report:
    requests: int = 0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    pg_restarts: int = 0
    verdicts: list[checks.Verdict] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    scanned: tuple[int, int] = (0, 0)  # secrets looked for, files scanned
    jobs: dict[str, int] = field(default_factory=dict)  # paid-fetch jobs by status, recovered
    live_violations: int = 0  # seen while the faults run (requests paid twice)


@dataclass
class Worker:
    """One of the product's processes: ``autopay scheduler`` (LEADER) or ``autopay worker``."""

    role: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, seed: int) -> None:
        handle = self.log.open("ab")
        command = "scheduler" if self.role == LEADER else "worker"
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from autopay_app.cli import main; main()", command],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Chaos:
    def __init__(
        self,
        settings: Settings,
        *,
        requests: int,
        seed: int,
        minutes: float,
        progress: Callable[[Report], None],
    ) -> None:
        self.settings, self.n, self.seed = settings, requests, seed
        self.deadline = time.monotonic() + minutes * 60
        self.progress = progress
        self.rng = random.Random(seed)
        self.home = settings.home / "chaos"
        self.report = Report()
        self.workers: list[Worker] = []

    # ----------------------------------------------------------------- set up
    def _database(self) -> str:
        if self.home.exists():
            embedded_db.stop_server(self.home)
            shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        url = embedded_db.ensure_database(self.home, "autopay")
        scratch.migrate(url)
        return url

    def _env(self, url: str, h: Any, api: Any) -> dict[str, str]:
        keys = self.home / "keys"
        return {
            **os.environ,
            "DATABASE_URL": url.replace("postgresql+psycopg", "postgresql"),
            "AUTOPAY_HOME": str(self.home),
            "SOLANA_RPC_URL": h.rpc_url,
            "X402_FACILITATOR_URL": h.facilitator_url,
            "PREMIUM_API_URL": api.url,
            "CASH_MINT": h.cash_mint,
            "AUTOPAY_KEYPAIR": str(keys / f"{AGENTS[0]}.json"),
            "AUTOPAY_AGENT_NAME": AGENTS[0],
            "AUTOPAY_KEYS_DIR": str(keys),
            "PYTHONUNBUFFERED": "1",
            **PROCESS_ENV,
        }

    def _agents(self, url: str, h: Any, api_url: str) -> dict[str, tuple[Any, str]]:
        """Every agent: its keypair in the keys directory, PHASE3, funded in both assets,
        monitoring every API variant, paid alternately in USDC and CASH."""
        from autopay_app.agent import wallet

        engine = sa.create_engine(url)
        session = Session(engine, expire_on_commit=False)
        made = {}
        cap = max(Decimal(5), Decimal(self.n) * Decimal("0.04"))
        for name in AGENTS:
            address = str(wallet.load_or_create(self.home / "keys" / f"{name}.json").pubkey())
            row = agents.ensure_agent(session, name, address)
            policies.update(
                session, row.id, hourly_cap=cap, daily_cap=cap * 2, allowed_assets=list(ASSETS)
            )
            agents.set_autonomy(session, row.id, AutonomyLevel.PHASE3, "autopay chaos")
            agents.set_session_token(session, row, secrets.token_urlsafe(24), self._box())
            monitoring.ensure_settings(session, row.id, Decimal(100000), Decimal(1), 8)
            urls = [(f"{path}?{q}", price) for path, qs, price in APIS for q in qs]
            for i, (path, price) in enumerate(urls):
                monitoring.upsert_api(
                    session,
                    row.id,
                    api_url + path,
                    weight=Decimal(1),
                    price=Decimal(price),
                    asset=ASSETS[i % 2],
                    ttl_seconds=2,
                )
            h.fund(address, sol=1, usdc=FUNDING["USDC"], cash=FUNDING["CASH"])
            made[name] = (row.id, address)
        engine.dispose()
        return made

    def _box(self) -> SecretBox:
        return SecretBox(load_or_create_key_material(None, self.home))

    def _scan_secrets(self, url: str) -> None:
        """A dump of the ledger and every worker log must hold no key and no plain token."""
        engine = sa.create_engine(url)
        with Session(engine) as session:
            known = [
                *secret_scan.keypair_secrets(self.home),
                *secret_scan.session_token_secrets(session, self._box()),
            ]
        engine.dispose()
        dump = backup.backup(url, self.home / "dump", keep=1).path
        findings = secret_scan.scan([dump, *self.report.logs], known)
        self.report.scanned = (len(known), 1 + len(self.report.logs))
        self.report.violations += [f"secret exposed: {f}" for f in findings]

    # ------------------------------------------------------------------ run
    def run(self) -> Report:
        from harness.testing import run_harness
        from mock_premium_api.testing import run_mock_api

        url = self._database()
        self._stop = self.home / "stop"
        with ExitStack() as stack:
            h = stack.enter_context(run_harness(self.home / "harness", slot_ms=40))
            api = stack.enter_context(
                run_mock_api(
                    facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
                )
            )
            made = self._agents(url, h, api.url)
            env = self._env(url, h, api)
            roles = [LEADER, *(f"worker-{i + 1}" for i in range(WORKERS))]
            self.workers = [Worker(role, env, self.home / f"{role}.log") for role in roles]
            self.report.logs = [w.log for w in self.workers]
            engine = sa.create_engine(url, pool_pre_ping=True)
            started = time.monotonic()
            for worker in self.workers:
                worker.start(self.seed)
            try:
                self._loop(engine, h, api)
            finally:
                self._stop.touch()
                self._halt_workers()
                self._clear(h, api)
            self.report.seconds = time.monotonic() - started
            self._settle_and_check(url, engine, h, made)
            engine.dispose()
            self._scan_secrets(url)
        embedded_db.stop_server(self.home)
        return self.report

    def _count(self, engine: sa.Engine) -> int:
        try:
            with engine.connect() as conn:
                self.report.live_violations = checks.double_payments(conn)
                return int(conn.scalar(sa.text("SELECT count(*) FROM api_requests")) or 0)
        except sa.exc.OperationalError:
            return self.report.requests  # the database is down right now

    def _loop(self, engine: sa.Engine, h: Any, api: Any) -> None:
        pg_left = max(1, self.n // 2000)
        while time.monotonic() < self.deadline:
            done = self._count(engine)
            self.report.requests = max(done, self.report.requests)
            self.progress(self.report)
            if done >= self.n:
                return
            self._revive()
            self._clear(h, api)
            kind = faults.draw(self.rng, pg_left)
            self.report.faults[kind] += 1
            pg_left -= kind == "pg_restart"
            self._inject(kind, h, api)
            time.sleep(self.rng.uniform(0.5, 2.0))

    def _inject(self, kind: str, h: Any, api: Any) -> None:
        rule = faults.harness_rule(kind, self.rng)
        if rule is not None:
            h.set_fault(**rule)
        elif kind == "seller_5xx":
            faults.post(
                api.url + "/_mock/faults",
                {"error_rate_after_settle": 0.3, "seed": self.rng.randrange(1 << 30)},
            )
        elif kind == "kill_worker":
            self.rng.choice(self.workers).kill()
        elif kind == "pg_restart":
            embedded_db.crash_server(self.home)
            time.sleep(self.rng.uniform(0.5, 1.5))
            embedded_db.restart_server(self.home)
            self.report.pg_restarts += 1

    def _revive(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is not None:
                worker.start(self.seed)
                self.report.restarts += 1

    def _clear(self, h: Any, api: Any) -> None:
        h.clear_faults()
        faults.post(api.url + "/_mock/faults", None, method="DELETE")

    def _halt_workers(self) -> None:
        """The leader stops deciding, then the workers finish their running jobs and stop
        (queued jobs stay queued: nothing was asked or paid for them)."""
        deadline = time.monotonic() + 30
        for worker in sorted(self.workers, key=lambda w: w.role != LEADER):
            if worker.process is not None and worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            process = worker.process
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()

    # -------------------------------------------------------------- verdict
    def _settle_and_check(
        self, url: str, engine: sa.Engine, h: Any, made: dict[str, tuple[Any, str]]
    ) -> None:
        from autopay_app.agent import Agent, wallet
        from autopay_app.agent.chain import Chain

        time.sleep(1.0)  # settlements the seller started before the stop complete
        h.advance_slots(400)  # every outstanding blockhash expires: the undecided are decidable
        for name in AGENTS:
            keypair = self.home / "keys" / f"{name}.json"
            settings = replace(
                self.settings,
                home=self.home,
                solana_rpc_url=h.rpc_url,
                facilitator_url="http://127.0.0.1:1",
                cash_mint=h.cash_mint,
                keypair_path=keypair,
                agent_name=name,
            )
            agent = Agent(settings, engine, keypair=wallet.load_or_create(keypair))
            agent.reconcile(older_than_s=0)
            agent.close()
        chain = Chain(h.rpc_url, h.usdc_mint, h.cash_mint)
        with engine.connect() as conn:
            for name in AGENTS:
                agent_id, address = made[name]
                verdict = checks.check_agent(conn, chain, agent_id, name, address, FUNDING)
                self.report.verdicts.append(verdict)
                self.report.violations += verdict.violations
            unfinished = checks.unfinished_requests(conn)
            if unfinished:
                self.report.violations.append(f"{unfinished} requests without a terminal status")
            self.report.violations += checks.cap_violations(conn)
            self.report.violations += checks.decisions_without_jobs(conn)
            self.report.jobs = checks.job_counts(conn)
            self.report.requests = int(conn.scalar(sa.text("SELECT count(*) FROM api_requests")))
        chain.close()
