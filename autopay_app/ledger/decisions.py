"""The Phase 3 tick's writes: its decisions as AGENT_DECISION audit events, the paid-fetch
jobs of its BUYs and the pacing state, in one statement.

A tick at 1,000 monitored APIs decides 1,000 times and buys a handful. :func:`record`
writes it all in one round trip: a data-modifying statement that defers the BUYs' jobs
through procrastinate's own SQL function (``procrastinate_defer_jobs_v1``, as
:func:`autopay_app.ledger.queue.defer` does one at a time), inserts the tick's events
from one JSON array and updates the agent's pacing state. A decision and its job commit
together or not at all.

The events: one per BUY (``details.kind`` ``phase3``; its id is the decision id its job
names, ``related_id`` the request the job writes, ``details.job_id`` the job, and every
term and score of the decision), and ONE per tick for all its SKIPs (``details.kind``
``phase3-tick``, :func:`skips_event`): each skipped API with its reason, rank and score.
The SKIPs' URLs are keys and each distinct reason stands once: PostgreSQL's full-text
index over ``details`` reads string values only, so the event costs a few dozen index
entries, and three numbers per API keep it small (one event per SKIP cost ~15 index
entries each, ~65 ms of server CPU a tick at 1,000 APIs; with every term and score the
tick event alone still cost ~15 ms). :func:`expand` turns a tick event back into one
decision per API, as one event each used to read; the readers go through it
(:func:`autopay_app.ledger.monitoring.decisions`, ``latest_decisions``).

When a BUY's (agent, API) already has a queued job (its queueing lock is taken: a
race with another process, since the tick leaves APIs with a job in flight alone), the
statement fails as a whole and its transaction is rolled back; the tick is then written
the slow way in another (:func:`record_one_by_one`: one
:func:`~autopay_app.ledger.queue.defer` per job, then :func:`write`), where such a BUY
is recorded SKIPPED (in an event of its own).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import queue

#: ``details.kind`` of a Phase 3 decision (one API's, in an event of its own).
DECISION_KIND = "phase3"
#: ``details.kind`` of the event holding all SKIPs of one tick (:func:`skips_event`).
TICK_KIND = "phase3-tick"
#: Both kinds: what a reader of Phase 3 decisions selects.
KINDS = (DECISION_KIND, TICK_KIND)
#: One SKIP as the tick event keeps it: URL, reason, rank (None: not ranked), score and
#: its extras (``affordable_in_s``, ``job_id``; None when it has none).
Skip = tuple[str, str, int | None, float | None, dict[str, Any] | None]


@dataclass(frozen=True)
class Tick:
    """What one Phase 3 tick writes: its ``decisions`` as details dicts (the BUYs' become
    their events; a SKIP's goes into the tick event), ``skips`` the tick's SKIPs as
    tuples, the BUYs' paid-fetch ``jobs`` (``concurrency``: their lock), and the pacing
    state (``tokens`` at ``at``, the next ``plan``)."""

    decisions: list[dict[str, Any]]
    tokens: Decimal
    at: datetime
    plan: dict[str, Any] | None
    jobs: Sequence[queue.PaidFetchJob] = ()
    concurrency: int = 4
    skips: Sequence[Skip] = ()


#: Format of a tick event (``details.v``).
TICK_FORMAT = 1
#: Keys a SKIP's details may have to go into the tick event (the terms and the other
#: scores are left out; any other key gets the SKIP an event of its own).
_COMPACT = frozenset(
    ("api", "decision", "reason", "rank", "scores", "tick", "kind", "affordable_in_s", "job_id")
) | frozenset(("price", "asset", "weight", "ttl_s"))
_EXTRA = ("affordable_in_s", "job_id")

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


def tick_ms(at: datetime) -> int:
    """A tick's name in its events' ``details.tick``: its time in ms since the epoch, a
    number (the full-text index over ``details`` reads strings only)."""
    return int(at.timestamp() * 1000)


def _params(agent_id: uuid.UUID, tick: Tick) -> dict[str, Any]:
    wanted = [
        {
            "request_id": str(job.request_id),
            "queue": queue.PAID_FETCH_QUEUE,
            "task": queue.PAID_FETCH_TASK,
            "lock": job.lock(tick.concurrency),
            "queueing_lock": job.queueing_lock(),
            "args": job.args(),
        }
        for job in tick.jobs
    ]
    name = tick_ms(tick.at)
    for d in tick.decisions:
        d["tick"] = name
    bought = dict.fromkeys((str(j.request_id) for j in tick.jobs), None)
    return {
        "agent_id": str(agent_id),
        "jobs": json.dumps(wanted),
        "rows": _document(tick.decisions, bought, tick.skips, name),
        "tokens": tick.tokens,
        "at": tick.at,
        "plan": None if tick.plan is None else json.dumps(tick.plan),
    }


def record(session: Session, agent_id: uuid.UUID, tick: Tick) -> dict[str, int]:
    """The ``tick``'s jobs, events and pacing state in the caller's transaction, in one
    statement (see the module). Returns request id -> job id of the jobs deferred.

    Raises:
        sqlalchemy.exc.IntegrityError: a BUY's queueing lock is taken; the caller's
            transaction is then spoilt: roll it back and :func:`record_one_by_one` in
            another (no savepoint here: it cost two round trips every tick).
    """
    result: Any = session.execute(_RECORD, _params(agent_id, tick))
    return {str(request_id): int(job_id) for request_id, job_id in result}


def record_one_by_one(session: Session, agent_id: uuid.UUID, tick: Tick) -> dict[str, int]:
    """:func:`record` when a queueing lock is taken, in the caller's transaction: one
    :func:`~autopay_app.ledger.queue.defer` per job (a BUY whose job is refused is
    recorded SKIPPED), then the events and the pacing state."""
    params = _params(agent_id, tick)
    deferred: dict[str, int] = {}
    for job in tick.jobs:
        job_id = queue.defer(session, job, tick.concurrency)
        if job_id is not None:
            deferred[str(job.request_id)] = job_id
    write(session, agent_id, tick.decisions, deferred, tick.skips, tick_ms(tick.at))
    session.execute(
        sa.text(
            "UPDATE monitor_settings SET pacing_tokens = :tokens, pacing_at = :at, "
            "next_plan = CAST(:plan AS jsonb), last_tick_at = :at WHERE agent_id = :agent_id"
        ),
        params,
    )
    return deferred


def write(
    session: Session,
    agent_id: uuid.UUID,
    decisions: list[dict[str, Any]],
    deferred: dict[str, int],
    skips: Sequence[Skip] = (),
    tick: int | None = None,
) -> None:
    """The tick's events (see the module), in the caller's transaction: one statement over
    one JSON document (arrays of 1,000 JSON strings took twice as long to pass).
    A BOUGHT decision whose request id is not in ``deferred`` is recorded SKIPPED.
    The ``decisions`` dicts become the BUY events' details (changed in place)."""
    if decisions or skips:
        rows = _document(decisions, deferred, skips, tick)
        session.execute(_INSERT, {"agent_id": str(agent_id), "rows": rows})


def _document(
    decisions: list[dict[str, Any]],
    deferred: Mapping[str, int | None],
    skips: Sequence[Skip] = (),
    tick: int | None = None,
) -> str:
    """The events as one JSON array (a job id None: the statement adds it): one per BUY
    (and per decision the tick event cannot hold), one for all the SKIPs."""
    rows: list[dict[str, Any]] = []
    compact: dict[str, Skip] = {s[0]: s for s in skips}
    for d in decisions:
        url = d.get("api")
        if isinstance(url, str) and url not in compact and _compact(d):
            scores = d.get("scores") or {}
            extra = {k: d[k] for k in _EXTRA if d.get(k) is not None}
            compact[url] = (url, str(d.get("reason")), d.get("rank"), scores.get("score"), extra)
            tick = d.get("tick", tick)
        else:
            rows.append(_row(d, deferred))
    if compact:
        event = skips_event(compact.values(), tick, len(rows) + len(compact))
        rows.append({"id": None, "severity": "INFO", "related_id": None, "details": event})
    return json.dumps(rows, default=str, separators=(",", ":"), check_circular=False)


def _compact(d: dict[str, Any]) -> bool:
    """Can the tick event hold decision ``d`` (a SKIP of known shape)?"""
    return d.get("decision") == "SKIPPED" and _COMPACT.issuperset(d)


def skips_event(skips: Iterable[Skip], tick: int | None, decided: int) -> dict[str, Any]:
    """The details of the event holding one tick's SKIPs.

    ``skipped`` maps each URL's part up to its last ``/`` to its rest, and that to the
    SKIP's ``[reason, rank, score]`` (``[..., extras]`` when it has extras): URLs as keys,
    which the full-text index does not read; ``reason`` an index into ``reasons``, where
    each distinct reason stands once. ``decided``: the tick's decisions, BUYs included.
    """
    reasons: dict[str, int] = {}
    skipped: dict[str, dict[str, list[Any]]] = {}
    for url, reason, rank, score, extra in skips:
        cut = url.rfind("/") + 1
        values: list[Any] = [reasons.setdefault(reason, len(reasons)), rank, score]
        if extra:
            values.append(extra)
        group = skipped.get(url[:cut])
        if group is None:
            group = skipped[url[:cut]] = {}
        group[url[cut:]] = values
    return {
        "kind": TICK_KIND,
        "tick": tick,
        "v": TICK_FORMAT,
        "decided": decided,
        "reasons": list(reasons),
        "skipped": skipped,
    }


def expand(details: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The decisions of one Phase 3 event: a tick event's SKIPs, one dict per API (ranked
    first, by rank; then by score, highest first, and URL) as one event per SKIP read
    (``api``, ``decision``, ``reason``, ``rank``, ``scores`` with ``score``, extras,
    ``tick``, ``kind``); any other event's details alone."""
    if not details:
        return []
    if details.get("kind") != TICK_KIND:
        return [details]
    reasons, tick = details.get("reasons") or [], details.get("tick")
    out = [
        _skip(prefix + rest, values, reasons, tick)
        for prefix, group in (details.get("skipped") or {}).items()
        for rest, values in group.items()
    ]
    out.sort(key=_skip_order)
    return out


def pick(details: dict[str, Any] | None, urls: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The decisions of one Phase 3 event on ``urls`` (URL -> as :func:`expand` reads
    it), looked up without expanding a whole tick event."""
    if not details:
        return {}
    if details.get("kind") != TICK_KIND:
        url = details.get("api")
        return {url: details} if isinstance(url, str) and url in set(urls) else {}
    reasons, tick = details.get("reasons") or [], details.get("tick")
    skipped, out = details.get("skipped") or {}, {}
    for url in urls:
        cut = url.rfind("/") + 1
        values = (skipped.get(url[:cut]) or {}).get(url[cut:])
        if values is not None:
            out[url] = _skip(url, values, reasons, tick)
    return out


def _skip(url: str, values: list[Any], reasons: list[str], tick: int | None) -> dict[str, Any]:
    """One SKIP of a tick event as its own event read."""
    reason, rank, score, *extra = values
    d: dict[str, Any] = {"api": url, "decision": "SKIPPED"}
    d |= {"reason": reasons[reason], "rank": rank, "scores": {"score": score}}
    if extra:
        d |= extra[0]
    if tick is not None:
        d["tick"] = tick
    d["kind"] = DECISION_KIND
    return d


def _skip_order(d: dict[str, Any]) -> tuple[bool, int, float, str]:
    rank, score = d["rank"], d["scores"]["score"]
    return (rank is None, rank or 0, -(score or 0.0), d["api"])


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
