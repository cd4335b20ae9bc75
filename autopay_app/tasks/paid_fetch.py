"""The paid-fetch task: one agent pays for one URL through its pipeline, exactly once.

The job's arguments carry the id its request row will have. The first run
writes that row (PENDING) before anything is asked and goes on as any fetch.
A run that finds the row already written follows an interrupted one (its
worker was killed, its database went away): it settles that request from the
chain (:func:`autopay_app.agent.settle.settle_request`) and never opens a
second one, so a job pays at most once whatever happens to its workers. While
the earlier payment may still land, the run raises :class:`PaymentUndecided`
and procrastinate retries it later.

An approval job (origin API: a person approved a Phase 2 quote) carries the held
request's id: its run closes that approval and resumes the pipeline from the
stored decision (:meth:`autopay_app.agent.Agent.approve`). Closing is exactly once
(a PENDING row, locked): a run that finds it closed already (a second approval,
a run after a killed one) settles the request from the chain and never pays.
Jobs of one request share their lock, so they never run at the same time.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from procrastinate import JobContext

from autopay_app.agent.errors import AgentError
from autopay_app.ledger import approvals, queue
from autopay_app.models import PaymentStatus


class PaymentUndecided(AgentError):
    """An interrupted run's payment is not yet proven landed or dead: try again later."""


class AgentNotServed(AgentError):
    """No keypair of the job's agent in this worker (AUTOPAY_KEYPAIR / AUTOPAY_KEYS_DIR)."""


def run(
    context: JobContext,
    agent: str,
    url: str,
    request_id: str,
    origin: str = "CLI",
    decision_id: str | None = None,
    max_amount: str | None = None,
    asset: str | None = None,
    approval: bool = False,
) -> dict[str, Any]:
    """Fetch ``url`` as ``agent``; returns what happened (kept in the worker's log)."""
    agents = context.additional_context["agents"]
    runner = agents.get(agent)
    if runner is None:
        raise AgentNotServed(f"agent {agent!r} has no keypair in this worker")
    rid = uuid.UUID(request_id)
    if approval:
        return _approved(runner, rid, origin)
    if queue.request_status(runner.session(), rid) is not None:
        state = runner.settle_request(rid)
        if state == PaymentStatus.SIGNED.value:
            raise PaymentUndecided(f"request {rid}: its payment may still land", retryable=True)
        return {"request_id": request_id, "status": state, "resumed": True}
    result = runner.fetch(
        url,
        max_amount=Decimal(max_amount) if max_amount is not None else None,
        asset=asset,
        request_id=rid,
    )
    result.wait_verified()  # the job is done once its payment is (VERIFIED)
    out = {"request_id": request_id, "status": result.status, "origin": origin}
    if result.payment_hash:
        out["payment_hash"] = result.payment_hash
    if result.category:
        out["category"] = result.category
    return out


def _approved(runner: Any, rid: uuid.UUID, origin: str) -> dict[str, Any]:
    """Pay the approved request ``rid`` from its stored decision, or settle it."""
    if approvals.decision(runner.session(), rid) == "PENDING":
        try:
            result = runner.approve(rid)
            result.wait_verified()  # the job is done once its payment is (VERIFIED)
        except AgentError as exc:  # closed meanwhile: nothing was signed by this run
            status = queue.request_status(runner.session(), rid)
            return {"request_id": str(rid), "status": status, "refused": str(exc)}
        out = {"request_id": str(rid), "status": result.status, "origin": origin}
        if result.payment_hash:
            out["payment_hash"] = result.payment_hash
        if result.category:
            out["category"] = result.category
        return out
    state = runner.settle_request(rid)
    if state == PaymentStatus.SIGNED.value:
        raise PaymentUndecided(f"request {rid}: its payment may still land", retryable=True)
    return {"request_id": str(rid), "status": state, "resumed": True}
