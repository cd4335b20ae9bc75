"""A person's approval of a Phase 2 quote, paid by a worker: defer, wait, answer.

:func:`approve` defers a ``paid_fetch`` job of origin API for the held request
(the job resumes it: :mod:`autopay_app.tasks.paid_fetch`) and waits for its end,
so the caller (the JSON API, the dashboard) answers as if it had paid itself.
The wait is bounded: a job no worker took within the start window is cancelled
and paid here instead; one still running after the fetch's deadline
(``AUTOPAY_FETCH_DEADLINE_S``) is :class:`StillRunning`.

With no worker alive (no heartbeat in the start window: a web app run alone, the
tests' Flask client) the approval is paid in this process, as before the queue,
and the log says so. Either way one payment at most: the approval is closed
exactly once, by whichever run gets it first.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autopay_app.agent.result import FetchResult, recorded_by_worker
from autopay_app.errors import AutopayError
from autopay_app.ledger import approvals, queue
from autopay_app.tasks import config as worker_config
from autopay_app.tasks.config import WorkerConfig

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from autopay_app.agent import Agent

log = logging.getLogger(__name__)
ORIGIN = "API"
POLL_S = 0.05


class StillRunning(AutopayError):
    """The approval's job is still running at the end of the wait; it goes on."""

    retryable = True


class AlreadyQueued(AutopayError):
    """A job for this approval is queued already (a second approval)."""

    category = "POLICY_DENIED"


@dataclass(frozen=True)
class Answer:
    """What the approval came to, and the job that paid it (None: paid in this process)."""

    result: FetchResult
    job_id: int | None


def start_window_s(cfg: WorkerConfig) -> float:
    """A worker alive sent a heartbeat within this; a job queued this long was not taken."""
    return 2 * cfg.heartbeat_s + 1.0


def in_process(agent: Agent, request_id: uuid.UUID, why: str) -> Answer:
    log.warning("approval of request %s paid in this process: %s", request_id, why)
    return _here(agent, request_id)


def _here(agent: Agent, request_id: uuid.UUID) -> Answer:
    """Pay the approval in this process; answered once the payment is done (VERIFIED)."""
    result = agent.approve(request_id)
    result.wait_verified()
    return Answer(result, None)


def approve(
    agent: Agent,
    request_id: uuid.UUID,
    session: Session | None = None,
    cfg: WorkerConfig | None = None,
) -> Answer:
    """Pay the approved request ``request_id`` through a worker (or here, see the module);
    ``session``: the caller's ledger session (default: the agent's).

    Raises:
        PolicyDenied: Nothing waits for approval on ``request_id`` (decided already).
        AlreadyQueued: An approval job of this request is queued already.
        StillRunning: Its job did not end within the fetch's deadline.
    """
    cfg = cfg or worker_config.load()
    session = session or agent.session()
    window = start_window_s(cfg)
    if not queue.workers_alive(session, window):
        return in_process(agent, request_id, "no worker alive")
    held = approvals.peek(session, request_id)
    if held is None:  # decided or expired: the agent records and refuses as before
        return _here(agent, request_id)
    job = queue.PaidFetchJob(agent.name, held.url, ORIGIN, request_id, approval=True)
    with session.begin():
        job_id = queue.defer(session, job, cfg.agent_concurrency)
    if job_id is None:
        raise AlreadyQueued(f"request {request_id} is being approved already (a job is queued)")
    log.info("approval of request %s queued as job %s", request_id, job_id)
    started = time.monotonic()
    deadline = started + window + agent.ctx.settings.fetch_deadline_s
    while (status := queue.job_status(session, job_id)) in queue.OPEN:
        now = time.monotonic()
        if status == queue.QUEUED and now > started + window:
            if queue.cancel_queued(session, job_id):
                return in_process(agent, request_id, f"no worker took job {job_id}")
        if now > deadline:
            raise StillRunning(
                f"job {job_id} paying request {request_id} is still {status}: "
                "its outcome will be in the ledger"
            )
        time.sleep(POLL_S)
    if approvals.decision(session, request_id) == "PENDING":  # the job never reached it
        return in_process(agent, request_id, f"job {job_id} ended {status} without paying")
    return Answer(recorded_by_worker(agent.ctx, request_id), job_id)
