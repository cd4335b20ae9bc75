"""The Phase 3 tick's writes: its decisions as AGENT_DECISION audit events, the paid-fetch
jobs of its BUYs and the pacing state, in one statement.

A tick at 1,000 monitored APIs decides 1,000 times. :func:`record` writes it all in one
round trip: a data-modifying statement that defers the BUYs' jobs through procrastinate's
own SQL function (``procrastinate_defer_jobs_v1``, as :func:`autopay_app.ledger.queue.defer`
does one at a time), inserts one event per decision from one JSON array (a BUY's event
names the job deferred for it) and updates the agent's pacing state. A decision and its
job commit together or not at all.

When a BUY's (agent, API) already has a queued job (its queueing lock is taken: a
race with another process, since the tick leaves APIs with a job in flight alone), the
statement fails as a whole and is rolled back to its savepoint; the tick is then
written the slow way (:func:`write` after one :func:`~autopay_app.ledger.queue.defer`
per job), where such a BUY is recorded SKIPPED.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import queue

#: ``details.kind`` of a Phase 3 decision.
DECISION_KIND = "phase3"

_INSERT = sa.text(
    """
INSERT INTO audit_events (id, agent_id, event_type, severity, related_id, details)
SELECT coalesce(CAST(e ->> 'id' AS uuid), gen_random_uuid()), CAST(:agent_id AS uuid),
       'AGENT_DECISION', CAST(e ->> 'severity' AS audit_severity),
       CAST(e ->> 'related_id' AS uuid), e -> 'details'
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS e
"""
)

#: The whole tick's write: jobs (in input order, as procrastinate returns their ids),
#: events (a BUY's gets its job's id), pacing state; returns request id -> job id.
_RECORD = sa.text(
    """
WITH wanted AS (
    SELECT j, n FROM jsonb_array_elements(CAST(:jobs AS jsonb)) WITH ORDINALITY AS t(j, n)
), deferred AS (
    SELECT procrastinate.procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW(j ->> 'queue', j ->> 'task', 0, j ->> 'lock', j ->> 'queueing_lock',
                   j -> 'args', NULL)::procrastinate.procrastinate_job_to_defer_v1
        FROM wanted ORDER BY n
    )) AS ids
), job AS (
    SELECT wanted.j ->> 'request_id' AS request_id, deferred.ids[wanted.n] AS id
    FROM wanted, deferred
), events AS (
    INSERT INTO audit_events (id, agent_id, event_type, severity, related_id, details)
    SELECT coalesce(CAST(e ->> 'id' AS uuid), gen_random_uuid()), CAST(:agent_id AS uuid),
           'AGENT_DECISION', CAST(e ->> 'severity' AS audit_severity),
           CAST(e ->> 'related_id' AS uuid),
           CASE WHEN job.id IS NULL THEN e -> 'details'
                ELSE (e -> 'details') || jsonb_build_object('job_id', job.id) END
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS e
    LEFT JOIN job ON job.request_id = e ->> 'related_id'
), pacing AS (
    UPDATE monitor_settings
    SET pacing_tokens = :tokens, pacing_at = :at, next_plan = CAST(:plan AS jsonb),
        last_tick_at = :at
    WHERE agent_id = :agent_id
)
SELECT request_id, id FROM job
"""
)


def record(
    session: Session,
    agent_id: uuid.UUID,
    decisions: list[dict[str, Any]],
    *,
    tokens: Decimal,
    at: datetime,
    plan: dict[str, Any] | None,
    jobs: Sequence[queue.PaidFetchJob] = (),
    concurrency: int = 4,
) -> dict[str, int]:
    """The tick's jobs, events and pacing state in the caller's transaction (one
    statement; see the module). Returns request id -> job id of the jobs deferred."""
    wanted = [
        {
            "request_id": str(job.request_id),
            "queue": queue.PAID_FETCH_QUEUE,
            "task": queue.PAID_FETCH_TASK,
            "lock": job.lock(concurrency),
            "queueing_lock": job.queueing_lock(),
            "args": job.args(),
        }
        for job in jobs
    ]
    params = {
        "agent_id": str(agent_id),
        "jobs": json.dumps(wanted),
        "rows": _document(decisions, dict.fromkeys((str(j.request_id) for j in jobs), None)),
        "tokens": tokens,
        "at": at,
        "plan": None if plan is None else json.dumps(plan),
    }
    try:
        with session.begin_nested():
            result: Any = session.execute(_RECORD, params)
            return {str(request_id): int(job_id) for request_id, job_id in result}
    except sa.exc.IntegrityError:  # a queueing lock is taken: one job at a time
        deferred: dict[str, int] = {}
        for job in jobs:
            job_id = queue.defer(session, job, concurrency)
            if job_id is not None:
                deferred[str(job.request_id)] = job_id
        write(session, agent_id, decisions, deferred)
        session.execute(
            sa.text(
                "UPDATE monitor_settings SET pacing_tokens = :tokens, pacing_at = :at, "
                "next_plan = CAST(:plan AS jsonb), last_tick_at = :at WHERE agent_id = :agent_id"
            ),
            params,
        )
        return deferred


def write(
    session: Session, agent_id: uuid.UUID, decisions: list[dict[str, Any]], deferred: dict[str, int]
) -> None:
    """One AGENT_DECISION event per decision, in the caller's transaction: one statement
    over one JSON document (arrays of 1,000 JSON strings took twice as long to pass).
    A BOUGHT decision whose request id is not in ``deferred`` is recorded SKIPPED.
    The ``decisions`` dicts become the events' details (changed in place)."""
    if decisions:
        rows = _document(decisions, deferred)
        session.execute(_INSERT, {"agent_id": str(agent_id), "rows": rows})


def _document(decisions: list[dict[str, Any]], deferred: Mapping[str, int | None]) -> str:
    """The events as one JSON array (a job id None: the statement adds it)."""
    rows = [_row(d, deferred) for d in decisions]
    return json.dumps(rows, default=str, separators=(",", ":"), check_circular=False)


def _row(d: dict[str, Any], deferred: Mapping[str, int | None]) -> dict[str, Any]:
    """The event of one decision: id, severity, related request id, details (``d`` itself
    with ``kind`` added, no copy per decision; again from the result, the same event)."""
    details = d
    request = details.get("request_id")
    decision_id = details.get("decision_id")
    details["kind"] = DECISION_KIND
    request_id = str(request) if request else None
    if request_id is not None and details.get("decision") == "BOUGHT":
        if request_id in deferred:
            job_id = deferred[request_id]
            if job_id is not None:
                details["job_id"] = job_id
        else:  # another job for this (agent, API) is queued: nothing was deferred
            details |= {"decision": "SKIPPED", "reason": "in flight: a job is already queued"}
            request_id = None
    if request_id:
        details["request_id"] = request_id
    else:
        details.pop("request_id", None)
    return {
        "id": str(decision_id) if decision_id else None,  # None: the database makes one
        "severity": "WARNING" if details.get("outcome") == "FAILED" else "INFO",
        "related_id": request_id,
        "details": details,
    }
