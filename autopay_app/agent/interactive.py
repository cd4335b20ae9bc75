"""Phase 2: a person approves or declines each payment before it is signed.

``hold`` parks a decided flow as a PENDING PaymentApproval (nothing signed);
``approve`` resumes it from the stored 402 and pays; ``decline`` and expiry
fail the request with POLICY_DENIED and sign nothing. The module-level
functions work on the Flask app's agent (:mod:`autopay_app.agent.runtime`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.agent import gateway
from autopay_app.agent.errors import AgentError, PolicyDenied
from autopay_app.agent.flow import FetchResult, PaymentFlow
from autopay_app.agent.policy import Choice, to_tokens
from autopay_app.ledger import balances, requests_log
from autopay_app.models import ApiRequest, ErrorCategory, PaymentApproval

if TYPE_CHECKING:
    from autopay_app.agent.core import Agent

APPROVAL_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Approval:
    request_id: uuid.UUID
    agent_id: uuid.UUID
    url: str
    endpoint: str
    description: str | None
    amount: Decimal
    asset: str
    pay_to: str
    balance_before: Decimal | None
    balance_after: Decimal | None
    expires_at: datetime


def hold(agent: Agent, flow: PaymentFlow, ttl: timedelta = APPROVAL_TTL) -> FetchResult:
    assert flow.choice is not None and flow.info is not None and flow.request_id is not None
    flow.record_402()  # the approval is resumed from the stored instructions
    with agent.session() as s, s.begin():
        s.add(
            PaymentApproval(
                api_request_id=flow.request_id,
                agent_id=agent.agent_id,
                offer_index=flow.choice.offer.index,
                amount=flow.choice.amount,
                currency=flow.choice.asset,
                pay_to=flow.choice.offer.pay_to,
                description=flow.info.description,
                expires_at=datetime.now(UTC) + ttl,
            )
        )
    return FetchResult(
        flow.request_id, "AWAITING_APPROVAL", amount=flow.choice.amount, asset=flow.choice.asset
    )


def _approval(s: Session, request_id: uuid.UUID) -> PaymentApproval:
    row = s.scalars(
        sa.select(PaymentApproval)
        .where(PaymentApproval.api_request_id == request_id)
        .with_for_update()
    ).first()
    if row is None:
        raise PolicyDenied(f"no approval is waiting for request {request_id}")
    return row


def _close(agent: Agent, request_id: uuid.UUID, decision: str) -> PaymentApproval:
    """Move a PENDING approval to ``decision`` (or EXPIRED); refuse anything else."""
    with agent.session() as s, s.begin():
        row = _approval(s, request_id)
        if row.decision != "PENDING":
            raise PolicyDenied(f"request {request_id} was already {row.decision.lower()}")
        expired = row.expires_at <= datetime.now(UTC)
        row.decision = "EXPIRED" if expired else decision
        row.decided_at = datetime.now(UTC)
        return row


def resume(agent: Agent, request_id: uuid.UUID) -> FetchResult:
    """Approve: rebuild the flow from the stored 402 and pay."""
    row = _close(agent, request_id, "APPROVED")
    if row.decision == "EXPIRED":
        requests_log.fail(
            agent.session(),
            request_id,
            ErrorCategory.POLICY_DENIED.value,
            "approval expired: nothing was signed",
            actor=agent.actor,
        )
        return agent.result_for(request_id, error="approval expired", category="POLICY_DENIED")
    with agent.session() as s, s.begin():
        request = s.get_one(ApiRequest, request_id)
        url, document, headers = request.url or "", request.x402_instructions, {}
    flow = PaymentFlow(agent, url)
    flow.request_id = request_id
    try:
        flow.info = gateway.parse_payment_required(headers, _json_bytes(document))
        offer = flow.info.offers[row.offer_index]
        flow.choice = Choice(offer, row.currency, to_tokens(offer.amount_atomic))
        agent.guard.ensure_funds(row.currency, flow.choice.amount)
        with agent.http.fetch_deadline(agent.settings.fetch_deadline_s):
            flow.reserve_and_sign()
            result = flow.deliver()
    except AgentError as exc:
        return agent._failed(flow, exc)
    return result  # the balance row was refreshed after the payment (flow.deliver)


def _json_bytes(document: object) -> bytes:
    import json

    return json.dumps(document).encode()


def reject(agent: Agent, request_id: uuid.UUID) -> None:
    row = _close(agent, request_id, "DECLINED")
    reason = "approval expired" if row.decision == "EXPIRED" else "declined by a person"
    requests_log.fail(
        agent.session(),
        request_id,
        ErrorCategory.POLICY_DENIED.value,
        f"{reason}: nothing was signed",
        actor=agent.actor,
    )


def expire(agent: Agent) -> int:
    """Fail every approval past its time; returns how many."""
    with agent.session() as s, s.begin():
        ids = list(
            s.scalars(
                sa.select(PaymentApproval.api_request_id).where(
                    PaymentApproval.agent_id == agent.agent_id,
                    PaymentApproval.decision == "PENDING",
                    PaymentApproval.expires_at <= sa.func.now(),
                )
            )
        )
    for request_id in ids:
        reject(agent, request_id)
    return len(ids)


def pending(session: Session, agent_id: uuid.UUID) -> list[Approval]:
    """Approvals of ``agent_id`` still waiting for a decision, oldest first."""
    with session.begin():
        rows = session.execute(
            sa.select(PaymentApproval, ApiRequest)
            .join(ApiRequest, ApiRequest.id == PaymentApproval.api_request_id)
            .where(
                PaymentApproval.agent_id == agent_id,
                PaymentApproval.decision == "PENDING",
                PaymentApproval.expires_at > sa.func.now(),
            )
            .order_by(PaymentApproval.created_at)
        ).all()
    read = balances.latest(session, agent_id)
    out = []
    for approval, request in rows:
        before = read and {"USDC": read.balance_usdc, "CASH": read.balance_cash}.get(
            approval.currency
        )
        out.append(
            Approval(
                request.id,
                agent_id,
                request.url or "",
                request.endpoint,
                approval.description,
                approval.amount,
                approval.currency,
                approval.pay_to,
                before,
                before - approval.amount if before else None,
                approval.expires_at,
            )
        )
    return out


# --- the dashboard's entry points: they act on the Flask app's agent ------------
def request_quote(agent_name: str, url: str) -> uuid.UUID:
    """Fetch ``url`` for a person: the flow stops at the approval card."""
    from autopay_app.agent.runtime import agent_for

    agent = agent_for(agent_name)
    host = urlsplit(url)
    if host.scheme not in ("http", "https") or not host.netloc:
        raise PolicyDenied(f"not an http(s) URL: {url!r}")
    flow = PaymentFlow(agent, url)
    request_id = flow.open()
    try:
        with agent.http.fetch_deadline(agent.settings.fetch_deadline_s):
            answer = flow.ask()
        if answer is not None:
            raise PolicyDenied(f"{url} did not ask for a payment")
        flow.decide()
        hold(agent, flow)
    except AgentError as exc:
        agent._failed(flow, exc)
        raise
    return request_id


def approve(request_id: uuid.UUID) -> FetchResult:
    from autopay_app.agent.runtime import agent_for_request

    return resume(agent_for_request(request_id), request_id)


def decline(request_id: uuid.UUID) -> None:
    from autopay_app.agent.runtime import agent_for_request

    reject(agent_for_request(request_id), request_id)
