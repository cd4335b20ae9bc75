"""The scheduler's settle job queues one ``reconcile`` job per agent; a worker runs it and
settles a payment an interrupted fetch left SIGNED from the chain (never by paying)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from autopay_app.agent import Agent, crash
from autopay_app.scheduler.core import run_recorded
from autopay_app.tasks import worker
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.agent.test_crash_safety import autopay
from tests.e2e.scheduler.conftest import Stack, agent_env, config


def test_settle_queues_a_reconciliation_that_a_worker_runs(
    stack: Stack,
    phase3_agent: Callable[..., Agent],
    app_for: Callable[[Agent], Any],
    database_url: str,
    engine: sa.Engine,
) -> None:
    agent = phase3_agent(usdc=1)
    before = agent.chain.balances(agent.address).usdc
    env = agent_env(stack, agent.settings.home, database_url)
    env |= {"AUTOPAY_KEYPAIR": str(agent.settings.keypair_path), "AUTOPAY_CRASH_AT": "after_send"}
    crashed = autopay(env, "fetch", stack.url("/api/market-feed?symbols=BTC"))
    assert crashed.returncode == crash.EXIT_CODE, crashed.stderr
    assert [r[0] for r in rows(engine, "SELECT status::text FROM payments")] == ["SIGNED"]

    app = app_for(agent)
    first = run_recorded(app, "settle", config(reconcile_after_s=0))
    assert first is not None and first["errors"] == []
    job_id = first["agents"][agent.name]["job_id"]
    again = run_recorded(app, "settle", config(reconcile_after_s=0))
    assert again is not None and again["agents"][agent.name] == {"queued": "already"}

    worker.run(app, wait=False)  # a worker takes the reconciliation
    (job,) = rows(
        engine,
        "SELECT status::text AS status, task_name FROM procrastinate.procrastinate_jobs "
        "WHERE id = :id",
        id=job_id,
    )
    assert (job.status, job.task_name) == ("succeeded", "reconcile")
    payments = rows(engine, "SELECT status::text, amount FROM payments")
    assert [(p[0], p[1]) for p in payments] == [("VERIFIED", Decimal("0.01"))]
    assert [r[0] for r in rows(engine, "SELECT status::text FROM api_requests")] == ["FAILED"]
    assert before - agent.chain.balances(agent.address).usdc == Decimal("0.01")
