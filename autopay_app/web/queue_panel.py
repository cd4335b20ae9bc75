"""The task queue as the dashboard and the JSON API show it: counts per agent, latest jobs.

Each job links to what it belongs to: the Phase 3 decision that deferred it (an
``AGENT_DECISION`` audit event), the request it wrote and that request's payment.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from autopay_app.ledger import queue

#: How the page names procrastinate's statuses.
LABELS = {
    queue.QUEUED: "queued",
    queue.RUNNING: "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "aborted": "aborted",
}


def counts(session: Session) -> list[dict[str, Any]]:
    """Per agent (by name): jobs queued, running, done and failed."""
    return [
        {"agent": agent, **{LABELS[s]: n for s, n in by_status.items()}}
        for agent, by_status in sorted(queue.counts(session).items())
    ]


def jobs(
    session: Session,
    *,
    agent_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The latest paid-fetch jobs as JSON-ready rows (``state``: the page's word)."""
    rows = queue.jobs(session, agent_id=agent_id, status=status, limit=limit)
    return [r.as_json() | {"state": LABELS.get(r.status, r.status)} for r in rows]
