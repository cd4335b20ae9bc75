"""A worker SIGKILLed mid-payment: its job is recovered by another worker, which settles the
payment from the chain instead of paying again. The chain shows one transfer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from decimal import Decimal

import sqlalchemy as sa

from autopay_app.scheduler.config import SchedulerConfig
from autopay_app.scheduler.tick import tick
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.tasks.conftest import Phase3, Stack, monitor_many, scalar, wait_for

WORKER_READY = "WORKER READY "


def test_a_worker_killed_mid_payment_leaves_one_transfer_and_its_job_recovered(
    stack: Stack,
    phase3: Phase3,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    agent = phase3.agent
    before = agent.chain.balances(agent.address).usdc
    monitor_many(agent, stack, 1, ttl_s=3600)
    decided = tick(agent, SchedulerConfig())
    assert len(decided.bought) == 1
    job_id = decided.bought[0].extra["job_id"]

    # The facilitator takes its time to settle: the payment is sent and in flight.
    stack.harness.set_fault(method="facilitator.settle", delay_ms=1500)
    doomed = processes("worker", phase3.env, WORKER_READY)
    payment = "SELECT status::text FROM payments"
    wait_for(lambda: scalar(engine, payment) == "SIGNED", timeout=60, what="the write-ahead")
    time.sleep(0.3)  # the signed bytes are on their way to the seller
    doomed.kill()  # SIGKILL: no cleanup at all
    doomed.wait(timeout=10)
    stack.harness.clear_faults()
    job = "SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = :id"
    assert scalar(engine, job, id=job_id) == "doing"  # left behind by the dead worker

    rescuer = processes("worker", phase3.env, WORKER_READY)
    wait_for(lambda: scalar(engine, job, id=job_id) == "succeeded", timeout=90, what="recovery")
    rescuer.terminate()
    assert rescuer.wait(timeout=20) == 0

    (attempts,) = rows(
        engine, "SELECT attempts FROM procrastinate.procrastinate_jobs WHERE id = :id", id=job_id
    )[0]
    assert attempts == 2  # the killed run, then the recovered one
    payments = rows(engine, "SELECT status::text, amount FROM payments")
    assert [(p.status, p.amount) for p in payments] == [("VERIFIED", Decimal("0.01"))]
    requests = rows(engine, "SELECT status::text FROM api_requests")
    assert [r.status for r in requests] == ["FAILED"]  # interrupted: paid, data not kept
    assert before - agent.chain.balances(agent.address).usdc == Decimal("0.01")  # one transfer
