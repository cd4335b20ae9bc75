"""Scheduler job runs: one row per run, written when it starts and when it ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import JobRun


def started(session: Session, job: str, host: str, pid: int) -> uuid.UUID:
    """Record that ``job`` started in process ``pid`` on ``host``; returns the run id."""
    with session.begin():
        run = JobRun(job=job, host=host[:255], pid=pid, started_at=datetime.now(UTC))
        session.add(run)
    return run.id


def finished(
    session: Session,
    run_id: uuid.UUID,
    *,
    outcome: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Close a run: ``OK`` with its outcome, or ``ERROR`` with the error text."""
    with session.begin():
        session.execute(
            sa.update(JobRun)
            .where(JobRun.id == run_id)
            .values(
                finished_at=datetime.now(UTC),
                status="ERROR" if error else "OK",
                outcome=outcome,
                error=error[:4000] if error else None,
            )
        )


def recent(session: Session, job: str | None = None, limit: int = 50) -> list[JobRun]:
    """The latest runs, newest first (of one job when ``job`` is given)."""
    query = sa.select(JobRun).order_by(JobRun.started_at.desc()).limit(limit)
    if job is not None:
        query = query.where(JobRun.job == job)
    with session.begin():
        return list(session.scalars(query))
