"""The task queue's rows as the ledger sees them: deferring in a ledger transaction, reading jobs.

procrastinate keeps its jobs in the ``procrastinate`` schema (migration 0015).
Its own connections defer and fetch jobs; :func:`defer` inserts one through
procrastinate's SQL function on the caller's connection instead, so a Phase 3
decision and its job commit (or roll back) together. The dashboard and the JSON
API read the jobs here, joined to the request each job's arguments name and
that request's payment.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from procrastinate.jobs import Status
from sqlalchemy.orm import Session

#: procrastinate's queue and task name of a paid fetch.
PAID_FETCH_QUEUE = "paid_fetch"
PAID_FETCH_TASK = "paid_fetch"
#: A job's statuses as procrastinate stores them, in its order: queued, running, the ends.
STATUSES = tuple(s.value for s in Status if s is not Status.ABORTING)
QUEUED, RUNNING = STATUSES[0], STATUSES[1]
OPEN = (QUEUED, RUNNING)
#: A job of ``agent`` queued or running (the partial indexes on status apply).
_OPEN_OF_AGENT = (
    "task_name = :task AND args->>'agent' = :agent "
    "AND status = ANY(CAST(:open AS procrastinate.procrastinate_job_status[]))"
)

_DEFER = sa.text(
    """
SELECT (procrastinate.procrastinate_defer_jobs_v1(ARRAY[
    ROW(:queue, :task, 0, :lock, :queueing_lock, CAST(:args AS jsonb), NULL)
]::procrastinate.procrastinate_job_to_defer_v1[]))[1]
"""
)


@dataclass(frozen=True)
class PaidFetchJob:
    """What a paid-fetch job carries (its procrastinate arguments)."""

    agent: str
    url: str
    origin: str  # PHASE3 | API | CLI
    request_id: uuid.UUID
    decision_id: uuid.UUID | None = None
    max_amount: Decimal | None = None
    asset: str | None = None
    #: A person approved the held request ``request_id`` (Phase 2, origin API): the job
    #: resumes it from its stored decision instead of starting a purchase.
    approval: bool = False

    def args(self) -> dict[str, Any]:
        extra = {"approval": True} if self.approval else {}
        return extra | {
            "agent": self.agent,
            "url": self.url,
            "origin": self.origin,
            "request_id": str(self.request_id),
            "decision_id": str(self.decision_id) if self.decision_id else None,
            "max_amount": str(self.max_amount) if self.max_amount is not None else None,
            "asset": self.asset,
        }

    def queueing_lock(self) -> str:
        """One queued job per (agent, API); one per approved request."""
        if self.approval:
            return f"approve:{self.request_id}"
        return f"fetch:{self.agent}:{self.url}"

    def lock(self, concurrency: int) -> str:
        """Jobs sharing a lock run one at a time: ``concurrency`` slots per agent."""
        slot = uuid.UUID(str(self.request_id)).int % max(1, concurrency)
        return f"agent:{self.agent}:{slot}"


def defer(session: Session, job: PaidFetchJob, concurrency: int) -> int | None:
    """Queue ``job`` in the session's open transaction; its id, or None when a job for the
    same (agent, API) is already queued (the savepoint is rolled back, the rest stays)."""
    return defer_task(
        session,
        PAID_FETCH_TASK,
        PAID_FETCH_QUEUE,
        job.args(),
        lock=job.lock(concurrency),
        queueing_lock=job.queueing_lock(),
    )


def defer_task(
    session: Session,
    task: str,
    queue_name: str,
    args: dict[str, Any],
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
) -> int | None:
    """Queue a job of ``task`` in the session's open transaction (procrastinate's own SQL
    function); its id, or None when ``queueing_lock`` already has a queued job."""
    params = {
        "queue": queue_name,
        "task": task,
        "lock": lock,
        "queueing_lock": queueing_lock,
        "args": json.dumps(args),
    }
    try:
        with session.begin_nested():
            return int(session.execute(_DEFER, params).scalar_one())
    except sa.exc.IntegrityError:
        return None


def in_flight(session: Session, agent: str) -> dict[str, int]:
    """URL -> job id of the agent's paid fetches queued or running."""
    rows: Any = session.execute(
        sa.text(
            "SELECT args->>'url', id FROM procrastinate.procrastinate_jobs WHERE " + _OPEN_OF_AGENT
        ),
        {"task": PAID_FETCH_TASK, "agent": agent, "open": list(OPEN)},
    )
    return {str(url): int(job_id) for url, job_id in rows}


@dataclass(frozen=True)
class JobRow:
    """A paid-fetch job with the request and payment it led to."""

    id: int
    status: str
    agent: str
    url: str
    origin: str
    attempts: int
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    request_id: str | None
    decision_id: str | None
    request_status: str | None
    payment_id: str | None
    payment_status: str | None
    payment_hash: str | None

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("queued_at", "started_at", "finished_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


_JOBS = """
SELECT j.id, j.status::text AS status, j.args->>'agent' AS agent, j.args->>'url' AS url,
       coalesce(j.args->>'origin', '') AS origin, j.attempts,
       ev.queued_at, ev.started_at, ev.finished_at,
       j.args->>'request_id' AS request_id, j.args->>'decision_id' AS decision_id,
       r.status::text AS request_status, p.id::text AS payment_id,
       p.status::text AS payment_status, p.payment_hash
FROM procrastinate.procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(e.at) FILTER (WHERE e.type = 'deferred') AS queued_at,
           max(e.at) FILTER (WHERE e.type = 'started') AS started_at,
           max(e.at) FILTER (WHERE e.type IN ('succeeded', 'failed', 'cancelled', 'aborted'))
               AS finished_at
    FROM procrastinate.procrastinate_events e WHERE e.job_id = j.id
) ev ON true
LEFT JOIN api_requests r ON r.id = CAST(j.args->>'request_id' AS uuid)
LEFT JOIN LATERAL (
    SELECT id, status, payment_hash FROM payments
    WHERE api_request_id = r.id ORDER BY created_at DESC LIMIT 1
) p ON true
WHERE j.task_name = :task
  AND (CAST(:status AS text) IS NULL OR j.status::text = :status)
  AND (CAST(:agent_id AS uuid) IS NULL
       OR j.args->>'agent' = (SELECT name FROM agents WHERE id = CAST(:agent_id AS uuid)))
ORDER BY j.id DESC
LIMIT :limit
"""


def jobs(
    session: Session,
    *,
    status: str | None = None,
    agent_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[JobRow]:
    """The latest paid-fetch jobs, newest first, optionally of one status or agent."""
    params = {"task": PAID_FETCH_TASK, "status": status, "agent_id": agent_id, "limit": limit}
    with session.begin():
        rows = session.execute(sa.text(_JOBS), params).mappings().all()
    return [JobRow(**row) for row in rows]


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Per agent: how many paid-fetch jobs are in each status."""
    query = sa.text(
        "SELECT args->>'agent', status::text, count(*) FROM procrastinate.procrastinate_jobs "
        "WHERE task_name = :task GROUP BY 1, 2"
    )
    out: dict[str, dict[str, int]] = {}
    with session.begin():
        result: Any = session.execute(query, {"task": PAID_FETCH_TASK})
        for agent, status, n in result:
            out.setdefault(str(agent), dict.fromkeys(STATUSES, 0))[str(status)] = int(n)
    return out


def request_status(session: Session, request_id: uuid.UUID) -> str | None:
    """The status of request ``request_id``; None while no such row exists."""
    with session.begin():
        value = session.execute(
            sa.text("SELECT status::text FROM api_requests WHERE id = :id"), {"id": request_id}
        ).scalar()
    return None if value is None else str(value)


def open_jobs(session: Session, agent: str) -> int:
    """How many of ``agent``'s paid fetches are queued or running."""
    with session.begin():
        return int(
            session.execute(
                sa.text(
                    "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE " + _OPEN_OF_AGENT
                ),
                {"task": PAID_FETCH_TASK, "agent": agent, "open": list(OPEN)},
            ).scalar_one()
        )


@dataclass(frozen=True)
class Outcome:
    """What a queued fetch's request came to."""

    status: str
    amount: Decimal | None
    category: str | None
    message: str | None


def outcomes(session: Session, request_ids: list[str]) -> dict[str, Outcome]:
    """Request id -> its status, the amount paid and the failure's classification."""
    if not request_ids:
        return {}
    query = sa.text(
        """
SELECT r.id::text, r.status::text, p.amount, e.category::text, e.message
FROM api_requests r
LEFT JOIN LATERAL (SELECT amount FROM payments
                   WHERE api_request_id = r.id AND status IN ('CONFIRMED', 'VERIFIED')
                   ORDER BY created_at DESC LIMIT 1) p ON true
LEFT JOIN LATERAL (SELECT category, message FROM error_classifications
                   WHERE api_request_id = r.id ORDER BY created_at DESC LIMIT 1) e ON true
WHERE r.id = ANY(CAST(:ids AS uuid[]))
"""
    )
    with session.begin():
        rows: Any = session.execute(query, {"ids": request_ids}).all()
    return {str(r[0]): Outcome(str(r[1]), r[2], r[3], r[4]) for r in rows}


def job_status(session: Session, job_id: int) -> str | None:
    """The status of job ``job_id`` (None: no such job)."""
    with session.begin():
        value = session.execute(
            sa.text("SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = :id"),
            {"id": job_id},
        ).scalar()
    return None if value is None else str(value)


def workers_alive(session: Session, within_s: float) -> int:
    """How many workers sent a heartbeat in the last ``within_s`` seconds."""
    with session.begin():
        return int(
            session.execute(
                sa.text(
                    "SELECT count(*) FROM procrastinate.procrastinate_workers "
                    "WHERE last_heartbeat > now() - make_interval(secs => :within)"
                ),
                {"within": within_s},
            ).scalar_one()
        )


def cancel_queued(session: Session, job_id: int) -> bool:
    """Cancel job ``job_id`` if no worker took it yet; False once it started (or ended)."""
    with session.begin():
        value = session.execute(
            sa.text("SELECT procrastinate.procrastinate_cancel_job_v1(:id, false, false)"),
            {"id": job_id},
        ).scalar()
    return value is not None
