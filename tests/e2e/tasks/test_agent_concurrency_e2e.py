"""AUTOPAY_AGENT_CONCURRENCY bounds an agent's paid fetches over all workers: each job takes
one of that many per-agent lock slots when it is deferred. At 1, two workers of three job
slots each still run that agent's jobs one after another."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import queue
from autopay_app.ledger.queue import OPEN
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.tasks.conftest import Phase3, Stack, scalar, wait_for

OPEN_JOBS = "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status::text = ANY(:open)"


def test_one_agent_never_runs_more_fetches_at_once_than_its_bound(
    stack: Stack,
    phase3: Phase3,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    env = phase3.env | {"AUTOPAY_WORKER_CONCURRENCY": "3"}
    agent = phase3.agent
    with Session(engine) as session, session.begin():
        for symbol in ("SOL", "BTC", "ETH", "SOL,BTC", "BTC,ETH", "SOL,ETH"):
            url = stack.url(f"/api/market-feed?symbols={symbol}")
            job = queue.PaidFetchJob(agent.name, url, "CLI", uuid.uuid4())
            assert queue.defer(session, job, concurrency=1) is not None
    for _ in range(2):
        processes("worker", env, "WORKER READY ")
    drained = lambda: scalar(engine, OPEN_JOBS, open=list(OPEN)) == 0  # noqa: E731
    wait_for(drained, timeout=120, what="the queue to drain")
    spans = rows(
        engine,
        "SELECT j.id, j.status::text AS status, "
        "max(e.at) FILTER (WHERE e.type = 'started') AS started, "
        "max(e.at) FILTER (WHERE e.type = 'succeeded') AS ended "
        "FROM procrastinate.procrastinate_jobs j JOIN procrastinate.procrastinate_events e "
        "ON e.job_id = j.id WHERE j.task_name = 'paid_fetch' GROUP BY j.id ORDER BY started",
    )
    assert [s.status for s in spans] == ["succeeded"] * 6
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.ended <= after.started  # never two at once
    accessed = "SELECT count(*) FROM api_requests WHERE status = 'ACCESSED'"
    assert scalar(engine, accessed) == 6
