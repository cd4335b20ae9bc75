"""A Phase 2 quote approved through the JSON API is paid by an `autopay worker` process
(a paid_fetch job of origin API that resumes the held request), and the API answers as
before, with the job's id. With no worker alive the web process pays, once, as before.
A second approval, or the same job run again, never pays twice."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from autopay_app import create_app
from autopay_app.config import load_settings
from autopay_app.ledger import agents, queue
from autopay_app.models import AutonomyLevel
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.tasks.conftest import Phase3, Stack, scalar, wait_for
from tests.unit.web.conftest import PASSWORD, AuthActions

pytestmark = pytest.mark.e2e
TOKEN = "api-approval-test-token-0123456789-abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PAID = "SELECT count(*) FROM payments WHERE status = 'VERIFIED'"
JOBS = (
    "SELECT id, status::text AS status, worker_id, args FROM procrastinate.procrastinate_jobs "
    "WHERE task_name = 'paid_fetch' ORDER BY id"
)


@pytest.fixture()
def web(phase3: Phase3, database_url: str) -> Iterator[FlaskClient]:
    """The dashboard + JSON API of the same agent (same keypair and ledger), at PHASE2."""
    agent = phase3.agent
    agents.set_autonomy(agent.session(), agent.agent_id, AutonomyLevel.PHASE2, "test")
    app: Flask = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTOPAY_EXTERNAL_DB": True,
            "AUTOPAY_SETTINGS": load_settings(phase3.env | {"AUTOPAY_ADMIN_PASSWORD": PASSWORD}),
            "AUTOPAY_API_TOKEN": TOKEN,
        }
    )
    yield app.test_client()
    from autopay_app.extensions import db

    for held in {id(a): a for a in app.extensions.get("autopay_agents", {}).values()}.values():
        held.close()
    with app.app_context():
        db.engine.dispose()


def quote(web: FlaskClient, phase3: Phase3, stack: Stack) -> str:
    body = {"agent": phase3.agent.name, "url": stack.url("/api/market-feed?symbols=SOL")}
    quoted = web.post("/api/v1/quotes", json=body, headers=BEARER)
    assert quoted.status_code == 201, quoted.get_data(as_text=True)
    return str(quoted.get_json()["request_id"])


def test_an_api_approval_is_paid_by_a_worker_process_once(
    stack: Stack,
    phase3: Phase3,
    web: FlaskClient,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    worker = processes("worker", phase3.env, "WORKER READY ")
    rid = quote(web, phase3, stack)
    assert scalar(engine, "SELECT count(*) FROM payments") == 0

    approved = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
    assert approved.status_code == 200, approved.get_data(as_text=True)
    answer = approved.get_json()
    assert answer["status"] == "ACCESSED" and answer["error"] is None
    assert answer["request_id"] == rid and answer["payment_hash"]
    assert answer["data"]  # the seller's data, as the in-process approval answered
    (job,) = rows(engine, JOBS)
    assert answer["job_id"] == job.id and job.status == "succeeded"
    assert job.args["origin"] == "API" and job.args["approval"] is True
    assert job.args["request_id"] == rid and job.args["agent"] == phase3.agent.name
    # run by the only worker registered: the `autopay worker` process (this one runs none)
    workers = rows(engine, "SELECT id FROM procrastinate.procrastinate_workers")
    assert [w.id for w in workers] == [job.worker_id] and worker.poll() is None
    assert scalar(engine, PAID) == 1
    status = "SELECT status::text FROM api_requests WHERE id = CAST(:id AS uuid)"
    assert scalar(engine, status, id=rid) == "ACCESSED"
    jobs = web.get("/api/v1/jobs", headers=BEARER).get_json()
    listed = {item["id"]: item for item in jobs["items"]}
    assert listed[job.id]["origin"] == "API" and listed[job.id]["payment_status"] == "VERIFIED"

    again = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
    assert again.status_code == 409, again.get_data(as_text=True)
    assert "already approved" in again.get_json()["error"]["message"]
    # the same approval job run again (a retried one): it settles, it never pays again
    rerun = queue.PaidFetchJob(
        phase3.agent.name, job.args["url"], "API", uuid.UUID(rid), approval=True
    )
    with Session(engine) as session, session.begin():
        rerun_id = queue.defer(session, rerun, concurrency=3)
    assert rerun_id is not None
    job_status = "SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = :id"

    def ended() -> bool:
        return scalar(engine, job_status, id=rerun_id) not in queue.OPEN

    wait_for(ended, timeout=60, what="the re-run job")
    assert rows(engine, JOBS)[-1].status == "succeeded"
    assert scalar(engine, PAID) == 1 and scalar(engine, "SELECT count(*) FROM payments") == 1
    assert scalar(engine, status, id=rid) == "ACCESSED"


def test_with_no_worker_alive_the_web_process_pays_once(
    stack: Stack, phase3: Phase3, web: FlaskClient, engine: sa.Engine
) -> None:
    rid = quote(web, phase3, stack)
    approved = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
    assert approved.status_code == 200, approved.get_data(as_text=True)
    answer = approved.get_json()
    assert answer["status"] == "ACCESSED" and answer["job_id"] is None
    assert rows(engine, JOBS) == []  # nothing queued: paid in the web process
    assert scalar(engine, PAID) == 1
    again = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
    assert again.status_code == 409
    assert scalar(engine, "SELECT count(*) FROM payments") == 1
    assert json.loads(approved.get_data(as_text=True))["request_id"] == rid


def test_a_dashboard_approval_is_paid_by_a_worker_process(
    stack: Stack,
    phase3: Phase3,
    web: FlaskClient,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
) -> None:
    processes("worker", phase3.env, "WORKER READY ")
    rid = quote(web, phase3, stack)
    auth = AuthActions(web)
    auth.login()
    form = {"csrf_token": auth.csrf("/"), "agent_id": str(phase3.agent.agent_id)}
    answer = web.post(f"/interactive/{rid}/approve", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = web.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Payment approved: the data has arrived." in page
    (job,) = rows(engine, JOBS)
    assert job.status == "succeeded" and job.args["origin"] == "API"
    assert job.args["request_id"] == rid and job.worker_id is not None
    assert scalar(engine, PAID) == 1


def test_a_job_no_worker_takes_is_cancelled_and_paid_here_once(
    stack: Stack,
    phase3: Phase3,
    web: FlaskClient,
    engine: sa.Engine,
    processes: Callable[..., subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker is alive but takes only maintenance jobs: the approval's job waits the
    start window (2 x heartbeat + 1 s), is cancelled, and the web process pays."""
    monkeypatch.setenv("AUTOPAY_WORKER_HEARTBEAT_S", "0.3")
    processes("worker", phase3.env, "WORKER READY ", "--queues", "maintenance")
    rid = quote(web, phase3, stack)
    approved = web.post(f"/api/v1/approvals/{rid}/approve", headers=BEARER)
    assert approved.status_code == 200, approved.get_data(as_text=True)
    answer = approved.get_json()
    assert answer["status"] == "ACCESSED" and answer["job_id"] is None
    (job,) = rows(engine, JOBS)
    assert job.status == "cancelled" and job.args["request_id"] == rid
    assert job.worker_id is None
    assert scalar(engine, PAID) == 1 and scalar(engine, "SELECT count(*) FROM payments") == 1
