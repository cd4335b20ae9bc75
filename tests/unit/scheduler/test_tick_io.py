"""The Phase 3 tick's database work: its read in one transaction (the per-API figures in one
statement) and its writes (jobs, AGENT_DECISION events, pacing state) in one statement,
with the one-job-at-a-time path when a queueing lock is already taken."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import decisions, monitoring, policies, queue
from autopay_app.models import MonitorSettings, RequestStatus, SpendMinute
from autopay_app.scheduler import prioritizer
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
    """Each API's decision: its event (a BUY's), or its part of the tick's SKIPs event."""
    with session.begin():
        rows = session.execute(
            sa.text(
                "SELECT id, related_id, details FROM audit_events "
                "WHERE agent_id = :a AND event_type = 'AGENT_DECISION'"
            ),
            {"a": agent_id},
        ).all()
    out = {}
    for r in rows:
        for d in decisions.expand(r.details):
            assert d["api"] not in out  # one decision per API
            out[d["api"]] = (
                r if d is r.details else SimpleNamespace(id=r.id, related_id=None, details=d)
            )
    return out


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
    agent_id = agent.id  # the failed first write's rollback expires the session's objects
    deferred = monitoring.record_tick(
        session, agent_id, [row_a, row_b], tokens=Decimal(0), at=at, plan=None, jobs=[job_a, job_b]
    )
    assert list(deferred) == [str(job_b.request_id)] and taken not in deferred.values()
    events = _events(session, agent_id)
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
            sa.select(MonitorSettings.last_tick_at).where(MonitorSettings.agent_id == agent_id)
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
    with _statements(session) as first:
        bare = monitoring.snapshot(
            session, agent.id, now, stale_cap=4.0, default_ttl=60, defaults=defaults
        )
    # the situation finds no settings row: the row is created and the situation read again
    # (the per-API figures go through the driver's cursor: not seen here)
    assert len(first) == 3 and first[1].lstrip().startswith("INSERT INTO monitor_settings")
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
        minute = now.replace(second=0, microsecond=0)
        for ago, amount in ((0, "0.25"), (120, "0.5")):  # minutes ago
            session.add(
                SpendMinute(
                    agent_id=agent.id,
                    minute=minute - timedelta(minutes=ago),
                    endpoint="/api/a",
                    amount=Decimal(amount),
                )
            )
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
    # the configured APIs (added when absent), the situation (settings, policy, balance,
    # breakers, spend windows, jobs in flight), then the per-API figures on the driver's
    # cursor (SQLAlchemy does not see it): three statements
    assert len(seen) == 2, seen
    by_url = {a.url: a for a in snap.apis}
    assert set(by_url) == {A, B} and snap.has_apis
    assert by_url[A].weight == Decimal(2) and by_url[A].source == "config"
    # the scorer's floats come converted by the server, as float() converts the numerics
    for a in snap.apis:
        assert a.weight_f == float(a.weight) and type(a.weight_f) is float
        assert a.price_f == (None if a.price is None else float(a.price))
    assert by_url[A].last_access == now - timedelta(seconds=30) and by_url[A].failures == 1
    assert by_url[B].last_access == now - timedelta(seconds=2400) and by_url[B].failures == 0
    assert snap.busy == {B: job_id}
    assert (snap.spent_hour, snap.spent_day) == (Decimal("0.25"), Decimal("0.75"))


def _version(session: Session, agent_id: uuid.UUID) -> int:
    with session.begin():
        return int(
            session.scalar(
                sa.select(MonitorSettings.apis_version).where(MonitorSettings.agent_id == agent_id)
            )
        )


def _sql(session: Session, statement: str, **params: Any) -> None:
    """A change as psql would make it: no application code around it."""
    with session.begin():
        session.execute(sa.text(statement), params)


def test_every_change_to_an_agents_monitored_apis_bumps_its_version(
    session: Session, database_url: str
) -> None:
    with session.begin():
        agent, other = make_agent(session), make_agent(session)
    for who in (agent, other):
        monitoring.ensure_settings(session, who.id, Decimal(3), Decimal("0.05"), 4)
    v = _version(session, agent.id)
    assert monitoring.upsert_api(session, agent.id, A, price=Decimal("0.01"))  # INSERT
    assert _version(session, agent.id) == v + 1
    assert not monitoring.upsert_api(session, agent.id, A, replace=False)  # nothing inserted
    assert _version(session, agent.id) == v + 1
    monitoring.upsert_api(session, agent.id, A, price=Decimal("0.02"))  # ON CONFLICT UPDATE
    assert _version(session, agent.id) == v + 2
    _sql(session, "UPDATE monitored_apis SET enabled = false WHERE agent_id = :a", a=agent.id)
    assert _version(session, agent.id) == v + 3
    other_v = _version(session, other.id)
    monitoring.upsert_api(session, other.id, B)  # another agent's change is not this one's
    assert (_version(session, agent.id), _version(session, other.id)) == (v + 3, other_v + 1)
    assert monitoring.remove_api(session, agent.id, A)  # DELETE
    assert _version(session, agent.id) == v + 4
    owner = sa.create_engine(database_url)  # TRUNCATE is the owner's (the app role may not)
    with owner.begin() as conn:
        conn.execute(sa.text("TRUNCATE monitored_apis"))
    owner.dispose()
    assert (_version(session, agent.id), _version(session, other.id)) == (v + 5, other_v + 2)


def test_a_tick_reads_the_configuration_again_only_when_its_version_changed(
    session: Session,
) -> None:
    with session.begin():
        agent = make_agent(session)
    policies.get_or_create(session, agent.id)
    now = datetime.now(UTC)

    def snap() -> dict[str, monitoring.ApiState]:
        got = monitoring.snapshot(
            session, agent.id, now, stale_cap=4.0, default_ttl=60, defaults=(Decimal(3), 0, 4)
        )
        return {a.url: a for a in got.apis}

    monitoring.upsert_api(session, agent.id, A, price=Decimal("0.01"), ttl_seconds=60)
    monitoring.upsert_api(session, agent.id, B, price=Decimal("0.02"))
    first = snap()
    assert first[A].price == Decimal("0.01") and first[A].last_access is None
    with session.begin():
        make_request(
            session,
            agent,
            url=A,
            status=RequestStatus.ACCESSED,
            created_at=now - timedelta(seconds=5),
        )
        make_request(session, agent, url=A, status=RequestStatus.FAILED, created_at=now)
    held = snap()  # the configuration held, the staleness read afresh
    assert held[A].last_access == now - timedelta(seconds=5) and held[A].failures == 1
    assert held[A][: monitoring.CONFIG_FIELDS] == first[A][: monitoring.CONFIG_FIELDS]
    assert held[B] == first[B]
    # a change whose version bump is undone is not seen: the held configuration is used
    v = _version(session, agent.id)
    _sql(session, "UPDATE monitored_apis SET price = 0.5 WHERE url = :u", u=A)
    _sql(
        session,
        "UPDATE monitor_settings SET apis_version = :v WHERE agent_id = :a",
        v=v,
        a=agent.id,
    )
    assert snap()[A].price == Decimal("0.01")
    # each change as psql makes it is seen at the next read
    _sql(session, "UPDATE monitored_apis SET price = 0.25, weight = 3 WHERE url = :u", u=A)
    changed = snap()[A]
    assert (changed.price, changed.price_f, changed.weight, changed.weight_f) == (
        Decimal("0.25"),
        0.25,
        Decimal(3),
        3.0,
    )
    assert changed.last_access == now - timedelta(seconds=5)
    _sql(session, "UPDATE monitored_apis SET enabled = false WHERE url = :u", u=B)
    assert set(snap()) == {A}
    _sql(session, "DELETE FROM monitored_apis WHERE url = :u", u=A)
    assert snap() == {}
    _sql(
        session,
        "INSERT INTO monitored_apis (agent_id, url, price) VALUES (:a, :u, 0.03)",
        a=agent.id,
        u=C,
    )
    assert set(snap()) == {C} and snap()[C].price == Decimal("0.03")


def _decision(url: str, action: str, reason: str, **kw: Any) -> prioritizer.Decision:
    scores = prioritizer.Scores(kw.pop("age", None), 4.0, 0.5, 8.0, 800.0)
    return prioritizer.Decision(
        url,
        action,
        reason,
        scores,
        kw.pop("price", Decimal("0.01")),
        "USDC",
        60,
        Decimal("2.0000"),
        **kw,
    )


def test_the_skips_of_a_tick_are_one_compact_event_and_read_back_whole(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    monitoring.ensure_settings(session, agent.id, Decimal(1), Decimal("0.05"), 5)
    D, E = (f"http://127.0.0.1:8402/api/{n}" for n in ("d", "e"))
    bought = _decision(A, prioritizer.BUY, "rank 1, score 800", rank=1)
    job = queue.PaidFetchJob(agent.name, A, "PHASE3", uuid.uuid4(), uuid.uuid4())
    bought.extra |= {"request_id": job.request_id, "decision_id": job.decision_id}
    tick = [
        bought,
        _decision(B, prioritizer.SKIP, "tick limit: 1 purchases already this tick", rank=2),
        _decision(C, prioritizer.SKIP, "pacing: 0 in the bucket", rank=3),
        _decision(D, prioritizer.SKIP, "fresh: bought 10s ago, ttl 60s", age=10.0),
        _decision(E, prioritizer.SKIP, "no price", price=None),
    ]
    tick[2].extra["affordable_in_s"] = 12.5
    tick[3].extra["job_id"] = 7
    rows = [d.details() for d in tick]
    expected = {d["api"]: dict(d) for d in rows}  # before record_tick adds to them
    at = datetime.now(UTC)
    monitoring.record_tick(session, agent.id, rows, tokens=Decimal(0), at=at, plan=None, jobs=[job])
    with session.begin():
        events = session.execute(
            sa.text(
                "SELECT details, length(to_tsvector('simple', details)) AS lexemes "
                "FROM audit_events WHERE agent_id = :a AND event_type = 'AGENT_DECISION'"
            ),
            {"a": agent.id},
        ).all()
    by_kind = {e.details["kind"]: e for e in events}
    assert len(events) == 2 and set(by_kind) == {"phase3", "phase3-tick"}  # the BUY's, the tick's
    # the URLs are keys: not in the full-text index; each distinct reason stands once
    assert by_kind["phase3-tick"].lexemes < 30
    ms = decisions.tick_ms(at)
    read = decisions.expand(by_kind["phase3-tick"].details)
    assert [d["api"] for d in read] == [B, C, D, E]  # the tick's order
    keep = ("api", "decision", "reason", "rank", "affordable_in_s", "job_id")
    for d in read:  # each SKIP reads back as its own event read, its terms left out
        full = expected[d["api"]]
        assert d == {k: full[k] for k in keep if k in full} | {
            "scores": {"score": full["scores"]["score"]},
            "tick": ms,
            "kind": "phase3",
        }
    assert by_kind["phase3"].details["tick"] == ms
    assert by_kind["phase3"].details["scores"] == expected[A]["scores"]  # a BUY keeps all
    # the readers: the newest decisions (BUYs first), and each API's latest one
    recent = monitoring.decisions(session, agent.id, limit=10)
    assert [(d["api"], d["decision"]) for d in recent] == [
        (A, "BOUGHT"),
        (B, "SKIPPED"),
        (C, "SKIPPED"),
        (D, "SKIPPED"),
        (E, "SKIPPED"),
    ]
    assert [d["api"] for d in monitoring.decisions(session, agent.id, limit=2)] == [A, B]
    later = at + timedelta(seconds=30)
    monitoring.record_tick(
        session,
        agent.id,
        [{"api": B, "decision": "SKIPPED", "reason": "daily budget: 0 left for today"}],
        tokens=Decimal(0),
        at=later,
        plan=None,
    )
    latest = monitoring.latest_decisions(session, agent.id, [A, B, E, "http://elsewhere/"])
    assert set(latest) == {A, B, E}
    assert latest[B]["reason"] == "daily budget: 0 left for today"
    assert latest[B]["tick"] == decisions.tick_ms(later)
    assert latest[A]["decision"] == "BOUGHT" and latest[E]["reason"] == "no price"
    for n in range(monitoring.LATEST_PAGE + 2):  # A's decision now beyond the first page
        monitoring.record_tick(
            session,
            agent.id,
            [],
            tokens=Decimal(0),
            at=later + timedelta(seconds=n + 1),
            plan=None,
            skips=[(B, f"tick {n}", None, 0.0, None)],
        )
    latest = monitoring.latest_decisions(session, agent.id, [A, B])
    assert latest[A]["decision"] == "BOUGHT" and latest[A]["tick"] == ms
    assert latest[B]["reason"] == f"tick {monitoring.LATEST_PAGE + 1}"
