"""The paid-fetch queue on the Phase 3 page and at ``/api/v1/jobs``: counts per agent, each
job linked to its decision, request and payment. Jobs go through procrastinate's own SQL."""

from __future__ import annotations

import types
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger import monitoring, queue
from autopay_app.models import AutonomyLevel, PaymentStatus, RequestStatus
from tests.factories import make_agent, make_payment, make_request

FEED = "http://127.0.0.1:8402/api/market-feed"


def _decide(session: Session, agent, url: str) -> tuple[uuid.UUID, uuid.UUID, int]:
    """One BUY decision and its job, in one transaction (as a tick writes them)."""
    job = queue.PaidFetchJob(
        agent=agent.name,
        url=url,
        origin="PHASE3",
        request_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
    )
    row = {
        "api": url,
        "decision": "BOUGHT",
        "reason": "stale",
        "request_id": job.request_id,
        "decision_id": str(job.decision_id),
    }
    deferred = monitoring.record_tick(
        session, agent.id, [row], tokens=Decimal(0), at=datetime.now(UTC), plan=None, jobs=[job]
    )
    assert job.decision_id is not None
    return job.request_id, job.decision_id, deferred[str(job.request_id)]


def _run(session: Session) -> None:
    """What a worker does to the oldest queued job: take it, then finish it."""
    with session.begin():
        worker = session.scalar(sa.text("SELECT procrastinate.procrastinate_register_worker_v1()"))
        job = session.execute(
            sa.text("SELECT (procrastinate.procrastinate_fetch_job_v2(NULL, :w)).id"), {"w": worker}
        ).scalar_one()
        session.execute(
            sa.text("SELECT procrastinate.procrastinate_finish_job_v1(:j, 'succeeded', false)"),
            {"j": job},
        )


@pytest.fixture()
def world(app, client, auth):
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            agent = make_agent(session, name="busy-agent", autonomy_level=AutonomyLevel.PHASE3)
            other = make_agent(session, name="other-agent", autonomy_level=AutonomyLevel.PHASE3)
        monitoring.ensure_settings(session, agent.id, Decimal(5), Decimal("0.05"), 5)
        monitoring.ensure_settings(session, other.id, Decimal(5), Decimal("0.05"), 5)
        request_id, decision_id, job_id = _decide(session, agent, FEED)
        _run(session)  # the worker ran it: its request was accessed and paid
        with session.begin():
            request = make_request(session, agent, id=request_id, url=FEED)
            request.status = RequestStatus.ACCESSED
            payment = make_payment(session, request, status=PaymentStatus.VERIFIED)
        _, _, waiting = _decide(session, other, FEED)
        # the same (agent, API) cannot be queued twice: the second BUY is refused
        again = queue.PaidFetchJob(
            agent=other.name, url=FEED, origin="PHASE3", request_id=uuid.uuid4()
        )
        with session.begin():
            assert queue.defer(session, again, 4) is None
    auth.login()
    return types.SimpleNamespace(
        agent=agent,
        other=other,
        request_id=request_id,
        decision_id=decision_id,
        job_id=job_id,
        payment_id=payment.id,
        waiting=waiting,
    )


def test_the_phase3_page_shows_the_queue_and_links_each_job(client, world):
    page = client.get(f"/autonomy?agent_id={world.agent.id}").get_data(as_text=True)
    assert 'data-test="queue"' in page
    assert f'data-job="{world.job_id}"' in page and f'data-job="{world.waiting}"' not in page
    assert f'href="/audit/{world.decision_id}"' in page
    assert f'href="/requests/{world.request_id}"' in page
    assert f'href="/payments/{world.payment_id}"' in page
    assert 'data-agent="other-agent"' in page  # counts for every agent
    live = client.get(f"/autonomy/queue?agent_id={world.other.id}")
    assert live.status_code == 200
    text = live.get_data(as_text=True)
    assert f'data-job="{world.waiting}"' in text and "not yet" in text
    assert client.get(f"/audit/{world.decision_id}").status_code == 200  # the link leads


def test_the_jobs_api_lists_jobs_with_their_links_and_counts(client, world, bearer):
    answer = client.get("/api/v1/jobs", headers=bearer)
    assert answer.status_code == 200
    by_id = {j["id"]: j for j in answer.json["items"]}
    done = by_id[world.job_id]
    assert (done["status"], done["state"], done["agent"], done["origin"]) == (
        "succeeded",
        "done",
        "busy-agent",
        "PHASE3",
    )
    assert done["decision_id"] == str(world.decision_id)
    assert done["request_id"] == str(world.request_id) and done["request_status"] == "ACCESSED"
    assert done["payment_id"] == str(world.payment_id) and done["payment_status"] == "VERIFIED"
    assert done["queued_at"] and done["started_at"] and done["finished_at"]
    counts = {c["agent"]: c for c in answer.json["counts"]}
    assert counts["busy-agent"]["done"] == 1 and counts["other-agent"]["queued"] == 1
    queued = client.get(
        f"/api/v1/jobs?status={queue.QUEUED}&agent_id={world.other.id}", headers=bearer
    )
    assert [j["id"] for j in queued.json["items"]] == [world.waiting]
    mine = client.get(f"/api/v1/jobs?agent_id={world.agent.id}&limit=1", headers=bearer)
    assert [j["id"] for j in mine.json["items"]] == [world.job_id]


@pytest.mark.parametrize(
    ("query", "names"),
    [("status=lost", "status"), ("agent_id=nope", "agent_id"), ("limit=0", "limit")],
)
def test_the_jobs_api_refuses_bad_input(client, world, bearer, query, names):
    answer = client.get(f"/api/v1/jobs?{query}", headers=bearer)
    assert answer.status_code == 400
    assert answer.json["error"]["message"].startswith(names)


def test_the_jobs_api_needs_the_token(app, world):
    stranger = app.test_client()  # neither the token nor a logged-in session
    assert stranger.get("/api/v1/jobs").status_code == 401
