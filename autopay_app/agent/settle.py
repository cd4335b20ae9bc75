"""Settling a payment's fate from the chain: verify, find by memo, reconcile.

Never by paying again: a SIGNED payment is CONFIRMED when its transaction is
found on chain (by the memo nonce it carries), and FAILED only once it is
proven dead: absent from the chain *and* the block height is past its last
valid block height (read in that order, so nothing can land in between).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from autopay_app.agent.errors import AgentError, SettlementPending, SignatureInvalid
from autopay_app.agent.verify import Expected, Verified, check
from autopay_app.ledger import payments, requests_log
from autopay_app.models import (
    ApiRequest,
    ConfirmationStatus,
    ErrorCategory,
    Payment,
    PaymentApproval,
    PaymentStatus,
    RequestStatus,
)

if TYPE_CHECKING:
    from autopay_app.agent.core import Agent

LEVELS = {
    "processed": ConfirmationStatus.PROCESSED,
    "confirmed": ConfirmationStatus.CONFIRMED,
    "finalized": ConfirmationStatus.FINALIZED,
}


def _transaction(agent: Agent, signature: str, polls: int = 6) -> dict[str, Any] | None:
    # The facilitator waited for confirmation before the seller answered 200, so the
    # transaction is normally there at once; a lagging RPC node gets a few short polls.
    for i in range(polls):
        tx = agent.rpc(lambda c: c.transaction(signature, "confirmed"))
        if tx is not None:
            return tx
        time.sleep(0.005 * (2**i))
    return None


def expected_of(agent: Agent, payment: Payment) -> Expected:
    return Expected(
        agent.address,
        payment.payer_signature or "",
        payment.asset_mint or "",
        payment.pay_to or "",
        int(payment.amount_atomic or 0),
    )


def check_on_chain(agent: Agent, expected: Expected, tx_hash: str) -> Verified | None:
    """The chain's view of ``tx_hash`` checked against what was signed; None if not visible.

    Raises:
        SignatureInvalid: The chain disagrees with what the agent signed.
        AgentError: The RPC failed.
    """
    tx = _transaction(agent, tx_hash)
    return None if tx is None else check(tx, expected)


def reject(agent: Agent, payment_id: uuid.UUID, exc: SignatureInvalid, tx_hash: str) -> str:
    payments.mark_failed(
        agent.session(),
        payment_id,
        ErrorCategory.SIGNATURE_INVALID.value,
        str(exc),
        actor=agent.actor,
        details={"payment_hash": tx_hash},
    )
    return PaymentStatus.FAILED.value


def verify(agent: Agent, payment_id: uuid.UUID) -> str:
    """CONFIRMED -> VERIFIED (or FAILED on a mismatch); returns the payment's status."""
    payment = payments.get(agent.session(), payment_id)
    if payment.status is not PaymentStatus.CONFIRMED or not payment.payment_hash:
        return str(payment.status)
    try:
        verified = check_on_chain(agent, expected_of(agent, payment), payment.payment_hash)
    except SignatureInvalid as exc:
        return reject(agent, payment_id, exc, payment.payment_hash)
    except AgentError:
        return str(payment.status)
    if verified is None:
        return str(payment.status)  # not visible yet: reconciliation tries again
    with agent.write() as conn:
        done = payments.mark_verified(
            conn,
            payments.PaymentRef.of(payment, agent.actor),
            metadata=verified.metadata,
            level=ConfirmationStatus.CONFIRMED,
            fee_lamports=verified.fee_lamports,
        )
    return (
        PaymentStatus.VERIFIED.value
        if done
        else str(payments.get(agent.session(), payment_id).status)
    )


def find(agent: Agent, payment_id: uuid.UUID) -> str | None:
    payment = payments.get(agent.session(), payment_id)
    if not payment.memo:
        return None
    memo = payment.memo
    since = payment.created_at.timestamp() - 300  # block times are coarse: keep a margin
    return agent.rpc(lambda c: c.find_by_memo(agent.address, memo, since))


def settle(agent: Agent, payment_id: uuid.UUID) -> str:
    """Decide a payment's status from the chain; returns it (SIGNED = still undecided)."""
    payment = payments.get(agent.session(), payment_id)
    if payment.status is PaymentStatus.INITIATED:
        payments.mark_failed(
            agent.session(),
            payment_id,
            ErrorCategory.UNKNOWN.value,
            "reserved but never signed: released",
            actor=agent.actor,
        )
        return PaymentStatus.FAILED.value
    if payment.status is PaymentStatus.SIGNED:
        try:
            height = agent.rpc(lambda c: c.block_height())
            signature = find(agent, payment_id)
        except AgentError:
            return PaymentStatus.SIGNED.value
        if signature:
            with agent.write() as conn:
                payments.mark_confirmed(
                    conn,
                    payments.PaymentRef.of(payment, agent.actor),
                    payment_hash=signature,
                    receipt=None,
                )
        elif payment.last_valid_block_height is not None and (
            height > payment.last_valid_block_height
        ):
            payments.mark_failed(
                agent.session(),
                payment_id,
                ErrorCategory.UNKNOWN.value,
                "proven dead: not on chain and its blockhash expired",
                actor=agent.actor,
                details={"block_height": height, "last_valid": payment.last_valid_block_height},
            )
            return PaymentStatus.FAILED.value
        else:
            return PaymentStatus.SIGNED.value
    return verify(agent, payment_id)


def resolve_unsettled(agent: Agent, url: str) -> None:
    """Before paying for ``url`` again, settle earlier abandoned payments for it.

    Raises:
        SettlementPending: An earlier payment for ``url`` may still land.
    """
    with agent.session() as s, s.begin():
        ids = list(
            s.scalars(
                sa.select(Payment.id)
                .join(ApiRequest)
                .where(
                    Payment.agent_id == agent.agent_id,
                    Payment.status == PaymentStatus.SIGNED,
                    ApiRequest.url == url,
                    ApiRequest.status == RequestStatus.FAILED,
                )
            )
        )
    for payment_id in ids:
        if settle(agent, payment_id) == PaymentStatus.SIGNED.value:
            raise SettlementPending(
                f"an earlier payment for {url} ({payment_id}) is not settled yet: "
                "no second payment before it is proven dead",
                retryable=False,
            )


def _open_approval(agent: Agent, request_id: uuid.UUID) -> bool:
    with agent.session() as s, s.begin():
        return (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(PaymentApproval)
                .where(
                    PaymentApproval.api_request_id == request_id,
                    PaymentApproval.decision == "PENDING",
                    PaymentApproval.expires_at > sa.func.now(),
                )
            )
            > 0
        )


def reconcile(agent: Agent, older_than_s: float = 0.0) -> dict[str, Any]:
    """Settle every unfinished payment and request of the agent (run at every start)."""
    counts: dict[str, int] = {}
    states = (PaymentStatus.INITIATED, PaymentStatus.SIGNED, PaymentStatus.CONFIRMED)
    for payment in payments.in_states(agent.session(), agent.agent_id, states, older_than_s):
        outcome = settle(agent, payment.id)
        key = f"{payment.status.value}->{outcome}"
        counts[key] = counts.get(key, 0) + 1
    with agent.session() as s, s.begin():
        stuck = [r.id for r in requests_log.unfinished(s, agent.agent_id, older_than_s)]
    for request_id in stuck:
        if _open_approval(agent, request_id):
            continue
        requests_log.fail(
            agent.session(),
            request_id,
            ErrorCategory.UNKNOWN.value,
            "interrupted: the agent stopped before this request finished",
            details={"reconciled": True},
            actor=agent.actor,
        )
        counts["requests_failed"] = counts.get("requests_failed", 0) + 1
    counts["finalized"] = upgrade_finalized(agent)
    return counts


def upgrade_finalized(agent: Agent, limit: int = 200) -> int:
    """Add a FINALIZED transaction log to verified payments the chain has finalized."""
    upgraded = 0
    for payment in payments.awaiting_finality(agent.session(), agent.agent_id, limit):
        try:
            if agent.rpc(lambda c, p=payment: c.status(p.payment_hash or "")) != "finalized":
                continue
        except AgentError:
            break
        payments.add_log(
            agent.session(),
            payment.id,
            {"signature": payment.payment_hash, "upgraded": "finalized"},
            ConfirmationStatus.FINALIZED,
            None,
        )
        upgraded += 1
    return upgraded
