"""Stalled-job recovery: the jobs of a worker that stopped sending heartbeats run again.

A periodic task (every ``AUTOPAY_STALLED_CHECK_S``, deferred once per period
whatever the number of workers) asks procrastinate for the ``doing`` jobs of
workers silent for ``AUTOPAY_STALLED_AFTER_S`` and puts them back in the queue.
A paid fetch that runs again settles what its first run left
(:mod:`autopay_app.tasks.paid_fetch`): never a second payment.
"""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import JobContext

log = logging.getLogger(__name__)
TASK = "recover_stalled"


async def run(context: JobContext, timestamp: int) -> dict[str, Any]:
    """Retry every stalled job; returns their ids."""
    settings = context.additional_context.get("worker_config")
    after = settings.stalled_after_s if settings is not None else 30.0
    manager = context.app.job_manager
    retried = []
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=after):
        if job.id is None or job.id == context.job.id:
            continue
        await manager.retry_job(job)
        retried.append(job.id)
        log.warning("stalled job %s (%s) put back in the queue", job.id, job.task_name)
    return {"retried": retried}
