"""The Phase 3 tick's database work: its read in one transaction (the per-API figures in one
statement) and its writes (jobs, AGENT_DECISION events, pacing state) in one statement,
with the one-job-at-a-time path when a queueing lock is already taken."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import monitoring, policies, queue
from autopay_app.models import MonitorSettings, RequestStatus
from tests.factories import make_agent, make_request

A, B, C = (f"http://127.0.0.1:8402/api/{n}" for n in ("a", "b", "c"))


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    """The SQL the session's engine runs inside the block (savepoints left out)."""
    seen: list[str] = []
    engine = session.get_bind()

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def _buy(agent: Any, url: str) -> tuple[dict[str, Any], queue.PaidFetchJob]:
    job = queue.PaidFetchJob(agent.name, url, "PHASE3", uuid.uuid4(), uuid.uuid4())
    row = {
        "api": url,
        "decision": "BOUGHT",
        "reason": "stale",
        "request_id": job.request_id,
        "decision_id": str(job.decision_id),
    }
    return row, job


def _events(session: Session, agent_id: uuid.UUID) -> dict[str, Any]:
    with session.begin():
        rows = session.execute(
            sa.text(
                "SELECT id, related_id, details FROM audit_events "
                "WHERE agent_id = :a AND event_type = 'AGENT_DECISION'"
            ),
            {"a": agent_id},
        ).all()
    return {r.details["api"]: r for r in rows}


def test_the_tick_writes_jobs_events_and_pacing_in_one_statement(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    monitoring.ensure_settings(session, agent.id, Decimal(1), Decimal("0.05"), 5)
    (row_a, job_a), (row_b, job_b) = _buy(agent, A), _buy(agent, B)
    skipped = {"api": C, "decision": "SKIPPED", "reason": "fresh"}
    at = datetime.now(UTC)
    with _statements(session) as seen:
        deferred = monitoring.record_tick(
            session,
            agent.id,
            [row_a, skipped, row_b],
            tokens=Decimal("0.5"),
            at=at,
            plan={"api": C, "at": at.isoformat(), "reason": "its data goes stale then"},
            jobs=[job_a, job_b],
        )
    assert len(seen) == 1, seen  # jobs, three events and the pacing state: one statement
    assert set(deferred) == {str(job_a.request_id), str(job_b.request_id)}
    events = _events(session, agent.id)
    for url, job in ((A, job_a), (B, job_b)):
        event = events[url]
        assert event.details["job_id"] == deferred[str(job.request_id)]
        assert event.related_id == job.request_id and str(event.id) == str(job.decision_id)
        assert event.details["request_id"] == str(job.request_id)
        assert event.details["kind"] == "phase3" and event.details["decision"] == "BOUGHT"
    assert events[C].related_id is None and "job_id" not in events[C].details
    with session.begin():
        jobs = {
            r.id: r.args
            for r in session.execute(
                sa.text("SELECT id, args FROM procrastinate.procrastinate_jobs")
            )
        }
        settings = session.scalars(
            sa.select(MonitorSettings).where(MonitorSettings.agent_id == agent.id)
        ).one()
    assert jobs[deferred[str(job_a.request_id)]]["decision_id"] == str(job_a.decision_id)
    assert jobs[deferred[str(job_b.request_id)]]["url"] == B
    assert settings.pacing_tokens == Decimal("0.5") and settings.last_tick_at == at
    assert settings.next_plan is not None and settings.next_plan["api"] == C


def test_a_taken_queueing_lock_records_that_buy_skipped_and_keeps_the_rest(
    session: Session,
) -> None:
    with session.begin():
        agent = make_agent(session)
    monitoring.ensure_settings(session, agent.id, Decimal(1), Decimal("0.05"), 5)
    _, earlier = _buy(agent, A)  # another process queued a fetch of A meanwhile
    with session.begin():
        taken = queue.defer(session, earlier, 4)
    (row_a, job_a), (row_b, job_b) = _buy(agent, A), _buy(agent, B)
    at = datetime.now(UTC)
    deferred = monitoring.record_tick(
        session, agent.id, [row_a, row_b], tokens=Decimal(0), at=at, plan=None, jobs=[job_a, job_b]
    )
    assert list(deferred) == [str(job_b.request_id)] and taken not in deferred.values()
    events = _events(session, agent.id)
    assert events[A].details["decision"] == "SKIPPED" and events[A].related_id is None
    assert "job_id" not in events[A].details and "request_id" not in events[A].details
    assert events[A].details["reason"] == "in flight: a job is already queued"
    assert events[B].details["job_id"] == deferred[str(job_b.request_id)]
    assert events[B].related_id == job_b.request_id
    with session.begin():
        urls = session.scalars(
            sa.text("SELECT args->>'url' FROM procrastinate.procrastinate_jobs ORDER BY id")
        ).all()
        last = session.scalar(
            sa.select(MonitorSettings.last_tick_at).where(MonitorSettings.agent_id == agent.id)
        )
    assert urls == [A, B] and last == at  # one job per (agent, API); pacing state written


def test_the_read_is_one_transaction_with_the_per_api_figures_in_one_statement(
    session: Session,
) -> None:
    with session.begin():
        agent = make_agent(session)
        other = make_agent(session)
    policies.get_or_create(session, agent.id)
    now = datetime.now(UTC)
    defaults = (Decimal(3), Decimal("0.05"), 4)
    bare = monitoring.snapshot(
        session, agent.id, now, stale_cap=4.0, default_ttl=60, defaults=defaults
    )
    assert bare.apis == [] and not bare.has_apis and bare.busy == {}
    assert (bare.daily_budget, bare.max_buys_per_tick) == (Decimal(3), 4)  # row created
    monitoring.upsert_api(session, agent.id, B, ttl_seconds=600, price=Decimal("0.01"))
    with session.begin():

        def request(url: str, status: RequestStatus, ago_s: float, who: Any = agent) -> None:
            make_request(
                session, who, url=url, status=status, created_at=now - timedelta(seconds=ago_s)
            )

        request(A, RequestStatus.ACCESSED, 100)
        request(A, RequestStatus.ACCESSED, 30)  # the last access
        request(A, RequestStatus.FAILED, 60)
        request(A, RequestStatus.FAILED, 7200)  # failed before the failure window
        request(A, RequestStatus.ACCESSED, 5, other)  # another agent's
        request(B, RequestStatus.ACCESSED, 2400)  # inside 4 x 600 s
        request(C, RequestStatus.ACCESSED, 10)  # not monitored
    _, job = _buy(agent, B)
    with session.begin():
        job_id = queue.defer(session, job, 4)
    with _statements(session) as seen:
        snap = monitoring.snapshot(
            session,
            agent.id,
            now,
            stale_cap=4.0,
            default_ttl=60,
            agent_name=agent.name,
            defaults=defaults,
            configured=[(A, Decimal(2))],
        )
    # settings and configured APIs (created when absent), the per-API figures, the
    # situation, the spend windows, the jobs in flight: six statements, one transaction
    assert len(seen) == 6, seen
    by_url = {a.url: a for a in snap.apis}
    assert set(by_url) == {A, B} and snap.has_apis
    assert by_url[A].weight == Decimal(2) and by_url[A].source == "config"
    assert by_url[A].last_access == now - timedelta(seconds=30) and by_url[A].failures == 1
    assert by_url[B].last_access == now - timedelta(seconds=2400) and by_url[B].failures == 0
    assert snap.busy == {B: job_id}
