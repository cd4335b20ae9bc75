"""Worker end-to-end fixtures: the stack, a PHASE3 agent whose keypair file the
``autopay worker`` / ``autopay scheduler`` processes load, and those processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from autopay_app.agent import Agent
from autopay_app.config import load_settings
from autopay_app.ledger import agents, monitoring
from autopay_app.models import AutonomyLevel
from tests.e2e.agent.conftest import Stack, agent_env, engine, stack  # noqa: F401

AUTOPAY = str(Path(sys.executable).with_name("autopay"))
FAST = {
    "AUTOPAY_WORKER_HEARTBEAT_S": "0.3",
    "AUTOPAY_STALLED_AFTER_S": "2",
    "AUTOPAY_STALLED_CHECK_S": "1",
    "AUTOPAY_WORKER_CONCURRENCY": "3",
    "AUTOPAY_AGENT_CONCURRENCY": "3",
    "AUTOPAY_SCHEDULER_JOBS": "prioritizer",
    "AUTOPAY_TICK_S": "0.3",
    "AUTOPAY_LEADER_RETRY_S": "0.3",
    "PYTHONUNBUFFERED": "1",
    "PYTHONFAULTHANDLER": "1",
}


@dataclass
class Phase3:
    agent: Agent
    env: dict[str, str]


@pytest.fixture()
def phase3(
    stack: Stack,  # noqa: F811
    engine: sa.Engine,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> Iterator[Phase3]:
    """A funded PHASE3 agent (the processes' AUTOPAY_KEYPAIR) and the processes' environment."""
    env = agent_env(stack, tmp_path, database_url) | FAST
    env["AUTOPAY_KEYPAIR"] = str(tmp_path / "agent.json")
    settings = replace(
        load_settings({}),
        home=tmp_path,
        solana_rpc_url=stack.harness.rpc_url,
        facilitator_url=stack.harness.facilitator_url,
        premium_api_url=stack.api.url,
        cash_mint=stack.harness.cash_mint,
        keypair_path=tmp_path / "agent.json",
    )
    agent = Agent(settings, engine, retry_base=0.01, http_timeout=5.0)
    agents.set_autonomy(agent.session(), agent.agent_id, AutonomyLevel.PHASE3, "test")
    stack.harness.fund(agent.address, usdc=5, cash=0)
    yield Phase3(agent, env)
    agent.close()


def monitor_many(agent: Agent, stack: Stack, n: int, ttl_s: int = 2) -> list[str]:  # noqa: F811
    """``n`` (at most 15) distinct market-feed URLs at 0.01 USDC, stale again every ``ttl_s``."""
    session = agent.session()
    monitoring.ensure_settings(session, agent.agent_id, Decimal(1000), Decimal(1), 50)
    lists = [",".join(p) for k in (1, 2, 3) for p in permutations(("SOL", "BTC", "ETH"), k)]
    assert n <= len(lists)
    urls = [stack.url(f"/api/market-feed?symbols={s}") for s in lists[:n]]
    for url in urls:
        monitoring.upsert_api(
            session,
            agent.agent_id,
            url,
            weight=Decimal(1),
            price=Decimal("0.01"),
            ttl_seconds=ttl_s,
        )
    return urls


@pytest.fixture()
def processes() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start(command, env, ready, *options)``: an ``autopay`` process, once it printed
    ``ready``."""
    started: list[subprocess.Popen[str]] = []

    def start(
        command: str, env: dict[str, str], ready: str, *options: str
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [AUTOPAY, command, *options, "--parent-pid", str(os.getpid())],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(ready), line
        assert json.loads(line[len(ready) :])["pid"] == proc.pid
        return proc

    yield start
    for proc in started:  # each by its own PID
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.1)


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:  # noqa: F811
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()
