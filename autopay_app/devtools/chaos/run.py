"""``autopay chaos``: the full stack under seeded random faults, then the verdict.

A dedicated embedded PostgreSQL (under AUTOPAY_HOME/chaos, started fresh), a
fresh harness and mock API, and two agent worker processes (PHASE1 fetches and
a PHASE3 prioritizer) run while a seeded schedule injects RPC latency, errors,
hangs and 429s, dropped and delayed transactions, facilitator failures and slow
settlements, seller 5xx after settlement, SIGKILLs of the workers (restarted)
and an immediate-mode stop of PostgreSQL (restarted). Then the faults stop,
every agent reconciles (after the chain has moved past every blockhash), and
:mod:`autopay_app.devtools.chaos.checks` compares the chain with the ledger.
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
from autopay_app.ledger import agents, backup, policies
from autopay_app.secrets import SecretBox, load_or_create_key_material

ROLES = ("phase1", "phase3")
#: The procrastinate worker running the phase3 agent's queued buys.
QUEUE = "queue"
#: Workers notice a dead one quickly (it is SIGKILLed on purpose here).
QUEUE_ENV = {
    "AUTOPAY_WORKER_HEARTBEAT_S": "0.5",
    "AUTOPAY_STALLED_AFTER_S": "3",
    "AUTOPAY_STALLED_CHECK_S": "1",
}
FUNDING = {"USDC": Decimal(400), "CASH": Decimal(400)}


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
    live_violations: int = 0  # seen while the faults run (requests paid twice)


@dataclass
class Worker:
    role: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, seed: int) -> None:
        handle = self.log.open("ab")
        command = (
            ["autopay_app.tasks"]  # `autopay worker`: procrastinate runs the queued buys
            if self.role == QUEUE
            else ["autopay_app.devtools.chaos.worker", self.role, str(seed + self.starts)]
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command],
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

    def _env(self, url: str, h: Any, api: Any, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": url.replace("postgresql+psycopg", "postgresql"),
            "AUTOPAY_HOME": str(self.home),
            "SOLANA_RPC_URL": h.rpc_url,
            "X402_FACILITATOR_URL": h.facilitator_url,
            "PREMIUM_API_URL": api.url,
            "CASH_MINT": h.cash_mint,
            "AUTOPAY_KEYPAIR": str(self.home / f"{role}.json"),
            "AUTOPAY_AGENT_NAME": f"chaos-{role}",
            "AUTOPAY_CHAOS_STOP": str(self._stop),
            "AUTOPAY_DAILY_BUDGET": "100000",
            "AUTOPAY_PACING_BURST": "1",
            "AUTOPAY_TICK_S": "0.2",
            "AUTOPAY_MAX_BUYS_PER_TICK": "4",
        }

    def _agents(self, url: str, h: Any) -> dict[str, tuple[Any, str]]:
        from autopay_app.agent import wallet

        engine = sa.create_engine(url)
        session = Session(engine, expire_on_commit=False)
        made = {}
        cap = max(Decimal(5), Decimal(self.n) * Decimal("0.04"))
        for role in ROLES:
            address = str(wallet.load_or_create(self.home / f"{role}.json").pubkey())
            row = agents.ensure_agent(session, f"chaos-{role}", address)
            policies.update(session, row.id, hourly_cap=cap, daily_cap=cap * 2)
            agents.set_session_token(session, row, secrets.token_urlsafe(24), self._box())
            h.fund(address, sol=1, usdc=FUNDING["USDC"], cash=FUNDING["CASH"])
            made[role] = (row.id, address)
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
            made = self._agents(url, h)
            self.workers = [
                Worker(role, self._env(url, h, api, role), self.home / f"{role}.log")
                for role in ROLES
            ]
            queue_env = self._env(url, h, api, "phase3") | QUEUE_ENV
            self.workers.append(Worker(QUEUE, queue_env, self.home / f"{QUEUE}.log"))
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
        deadline = time.monotonic() + 20
        for worker in self.workers:
            if worker.role == QUEUE and worker.process and worker.process.poll() is None:
                worker.process.terminate()  # running jobs finish, queued ones stay queued
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
        for role in ROLES:
            settings = replace(
                self.settings,
                home=self.home,
                solana_rpc_url=h.rpc_url,
                facilitator_url="http://127.0.0.1:1",
                cash_mint=h.cash_mint,
                keypair_path=self.home / f"{role}.json",
                agent_name=f"chaos-{role}",
            )
            agent = Agent(
                settings, engine, keypair=wallet.load_or_create(self.home / f"{role}.json")
            )
            agent.reconcile(older_than_s=0)
            agent.close()
        chain = Chain(h.rpc_url, h.usdc_mint, h.cash_mint)
        with engine.connect() as conn:
            for role in ROLES:
                agent_id, address = made[role]
                verdict = checks.check_agent(
                    conn, chain, agent_id, f"chaos-{role}", address, FUNDING
                )
                self.report.verdicts.append(verdict)
                self.report.violations += verdict.violations
            unfinished = checks.unfinished_requests(conn)
            if unfinished:
                self.report.violations.append(f"{unfinished} requests without a terminal status")
            self.report.violations += checks.cap_violations(conn)
            self.report.requests = int(conn.scalar(sa.text("SELECT count(*) FROM api_requests")))
        chain.close()
