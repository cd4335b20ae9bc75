"""Paid fetches through procrastinate: 3 ``autopay worker`` processes, 2 ``autopay scheduler``
processes (one leads, one waits) on one database: every BUY decided runs exactly once."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import sqlalchemy as sa

from autopay_app.ledger.queue import OPEN
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.tasks.conftest import AUTOPAY, Phase3, Stack, monitor_many, scalar, wait_for

WORKER_READY = "WORKER READY "
SCHEDULER_READY = "SCHEDULER READY "
OPEN_JOBS = "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status::text = ANY(:open)"


def test_three_workers_run_every_decided_buy_exactly_once_under_one_of_two_leaders(
    stack: Stack,
    phase3: Phase3,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    agent = phase3.agent
    before = agent.chain.balances(agent.address).usdc
    monitor_many(agent, stack, 12, ttl_s=2)
    workers = [processes("worker", phase3.env, WORKER_READY) for _ in range(3)]
    leaders = [processes("scheduler", phase3.env, SCHEDULER_READY) for _ in range(2)]
    decided = "SELECT count(*) FROM audit_events WHERE details->>'decision' = 'BOUGHT'"
    wait_for(lambda: scalar(engine, decided) >= 36, timeout=120, what="36 BUY decisions")
    # several workers took jobs (their rows and the jobs' worker ids, while they run)
    busy = scalar(
        engine,
        "SELECT count(DISTINCT worker_id) FROM procrastinate.procrastinate_jobs "
        "WHERE task_name = 'paid_fetch' AND worker_id IS NOT NULL",
    )
    # Stop the standby, then the leader (the other order would hand the lead over).
    (leading,) = rows(engine, "SELECT DISTINCT pid FROM job_runs WHERE job = 'leadership'")
    for leader in sorted(leaders, key=lambda p: p.pid == leading[0]):
        leader.terminate()
        assert leader.wait(timeout=20) == 0
    drained = lambda: scalar(engine, OPEN_JOBS, open=list(OPEN)) == 0  # noqa: E731
    wait_for(drained, timeout=120, what="the queue to drain")
    for worker in workers:
        worker.terminate()
        assert worker.wait(timeout=20) == 0
    assert busy >= 2

    # One leader decided; the other waited.
    ticks = rows(engine, "SELECT DISTINCT pid FROM job_runs WHERE job = 'prioritizer'")
    assert len(ticks) == 1 and ticks[0][0] in {p.pid for p in leaders}

    decisions = rows(
        engine,
        "SELECT id, related_id, details FROM audit_events "
        "WHERE event_type = 'AGENT_DECISION' AND details->>'decision' = 'BOUGHT'",
    )
    jobs = {
        r.id: r
        for r in rows(
            engine,
            "SELECT id, status::text AS status, attempts, args "
            "FROM procrastinate.procrastinate_jobs WHERE task_name = 'paid_fetch'",
        )
    }
    # A decision and its job, one for one, naming each other.
    assert len(decisions) == len(jobs) >= 36
    for d in decisions:
        job = jobs[d.details["job_id"]]
        assert job.args["decision_id"] == str(d.id)
        assert job.args["request_id"] == str(d.related_id) == d.details["request_id"]
        assert (job.status, job.attempts) == ("succeeded", 1)  # run once, never again

    # Each job made its one request, paid once; the chain agrees.
    requests = rows(
        engine,
        "SELECT r.id, r.status::text, count(p.id) AS n, "
        "count(p.id) FILTER (WHERE p.status = 'VERIFIED') AS verified "
        "FROM api_requests r LEFT JOIN payments p ON p.api_request_id = r.id GROUP BY r.id",
    )
    assert {str(r.id) for r in requests} == {j.args["request_id"] for j in jobs.values()}
    outcomes = Counter((r.status, r.n, r.verified) for r in requests)
    assert outcomes == {("ACCESSED", 1, 1): len(jobs)}, failures(engine)
    paid = scalar(engine, "SELECT sum(amount) FROM payments WHERE status = 'VERIFIED'")
    assert paid == Decimal("0.01") * len(jobs)
    assert before - agent.chain.balances(agent.address).usdc == paid


def failures(engine: sa.Engine) -> list[sa.Row]:
    return rows(engine, "SELECT category::text, message FROM error_classifications")


def test_fetch_queue_waits_for_a_worker_and_says_when_none_runs(
    stack: Stack,
    phase3: Phase3,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    def fetch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AUTOPAY, "fetch", stack.url("/api/market-feed?symbols=ETH"), "--queue", *args],
            env=phase3.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    alone = fetch("--wait", "1")  # no worker yet: the job waits, the command says why
    assert alone.returncode == 1 and "is an `autopay worker` running" in alone.stderr
    assert "Traceback" not in alone.stderr
    again = fetch("--wait", "1")
    assert again.returncode == 1 and "is queued already" in again.stderr
    processes("worker", phase3.env, WORKER_READY)
    # the queued job runs now; then a new one, waited for, pays and prints its result
    wait_for(lambda: scalar(engine, OPEN_JOBS, open=list(OPEN)) == 0, timeout=60)
    done = fetch("--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ACCESSED" and result["payment"]["amount"] == "0.010000"
    jobs = rows(
        engine,
        "SELECT status::text AS status, args->>'origin' AS origin, args->>'request_id' AS rid "
        "FROM procrastinate.procrastinate_jobs WHERE task_name = 'paid_fetch' ORDER BY id",
    )
    assert [(j.status, j.origin) for j in jobs] == [("succeeded", "CLI")] * 2
    assert jobs[-1].rid == result["request_id"]
    # a failure the worker classified reaches the command, as without --queue
    missing = subprocess.run(
        [AUTOPAY, "fetch", stack.url("/api/nope"), "--queue", "--json"],
        env=phase3.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1, missing.stderr
    failed = json.loads(missing.stdout)
    assert failed["status"] == "FAILED" and failed["category"] == "UNKNOWN", failed
    assert failed["error"] == f"{stack.url('/api/nope')} answered 404", failed
