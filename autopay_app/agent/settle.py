"""Settling a payment's fate from the chain: verify, find by memo, reconcile.

Never by paying again: a SIGNED payment is CONFIRMED when its transaction is
found on chain (by the memo nonce it carries), and FAILED only once it is
proven dead: absent from the chain *and* the block height is past its last
valid block height (read in that order, so nothing can land in between).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from autopay_app.agent import io
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import AgentError, SettlementPending, SignatureInvalid
from autopay_app.agent.verify import Expected, Verified, check
from autopay_app.ledger import approvals, direct, payments, requests_log
from autopay_app.models import ConfirmationStatus, ErrorCategory, Payment, PaymentStatus

LEVELS = {
    "processed": ConfirmationStatus.PROCESSED,
    "confirmed": ConfirmationStatus.CONFIRMED,
    "finalized": ConfirmationStatus.FINALIZED,
}


def _transaction(ctx: AgentContext, signature: str, polls: int = 6) -> dict[str, Any] | None:
    # The facilitator waited for confirmation before the seller answered 200, so the
    # transaction is normally there at once; a lagging RPC node gets a few short polls.
    for i in range(polls):
        # The wire bytes (base64): the node renders no message, the agent parses none;
        # verify.check matches them against the payer's signature and signed message.
        tx = io.rpc(ctx, lambda c: c.transaction(signature, "confirmed", "base64"))
        if tx is not None:
            return tx
        time.sleep(0.005 * (2**i))
    return None


def expected_of(ctx: AgentContext, payment: Payment) -> Expected:
    """What the chain must show for ``payment``: a transfer signed by its payer (the
    person's wallet when one paid, else the agent)."""
    return Expected(
        payment.payer_address or ctx.address,
        payment.payer_signature or "",
        payment.asset_mint or "",
        payment.pay_to or "",
        int(payment.amount_atomic or 0),
        payment.signed_transaction,
    )


def check_on_chain(ctx: AgentContext, expected: Expected, tx_hash: str) -> Verified | None:
    """The chain's view of ``tx_hash`` checked against what was signed; None if not visible.

    Raises:
        SignatureInvalid: The chain disagrees with what the agent signed.
        AgentError: The RPC failed.
    """
    tx = _transaction(ctx, tx_hash)
    return None if tx is None else check(tx, expected)


def reject(ctx: AgentContext, payment_id: uuid.UUID, exc: SignatureInvalid, tx_hash: str) -> str:
    """FAILED (SIGNATURE_INVALID): the chain shows something else than what was signed."""
    payments.mark_failed(
        ctx.session(),
        payment_id,
        ErrorCategory.SIGNATURE_INVALID.value,
        str(exc),
        actor=ctx.actor,
        details={"payment_hash": tx_hash},
    )
    return PaymentStatus.FAILED.value


def verify(ctx: AgentContext, payment_id: uuid.UUID) -> str:
    """CONFIRMED -> VERIFIED (or FAILED on a mismatch); returns the payment's status."""
    payment = payments.get(ctx.session(), payment_id)
    if payment.status is not PaymentStatus.CONFIRMED or not payment.payment_hash:
        return str(payment.status)
    try:
        verified = check_on_chain(ctx, expected_of(ctx, payment), payment.payment_hash)
    except SignatureInvalid as exc:
        return reject(ctx, payment_id, exc, payment.payment_hash)
    except AgentError:
        return str(payment.status)
    if verified is None:
        return str(payment.status)  # not visible yet: reconciliation tries again
    with direct.autocommit(ctx.engine) as conn:
        done = payments.mark_verified(
            conn,
            payments.PaymentRef.of(payment, ctx.actor),
            metadata=verified.metadata,
            level=ConfirmationStatus.CONFIRMED,
            fee_lamports=verified.fee_lamports,
        )
    if done:
        return PaymentStatus.VERIFIED.value
    return str(payments.get(ctx.session(), payment_id).status)


def find(ctx: AgentContext, payment_id: uuid.UUID) -> str | None:
    """The signature of the payment's transaction if it landed (found by its memo)."""
    payment = payments.get(ctx.session(), payment_id)
    if not payment.memo:
        return None
    memo = payment.memo
    since = payment.created_at.timestamp() - 300  # block times are coarse: keep a margin
    payer = payment.payer_address or ctx.address  # a wallet's payment is in its history
    return io.rpc(ctx, lambda c: c.find_by_memo(payer, memo, since))


def settle(ctx: AgentContext, payment_id: uuid.UUID) -> str:
    """Decide a payment's status from the chain; returns it (SIGNED = still undecided)."""
    payment = payments.get(ctx.session(), payment_id)
    if payment.status is PaymentStatus.INITIATED:
        payments.mark_failed(
            ctx.session(),
            payment_id,
            ErrorCategory.UNKNOWN.value,
            "reserved but never signed: released",
            actor=ctx.actor,
        )
        return PaymentStatus.FAILED.value
    if payment.status is PaymentStatus.SIGNED:
        try:
            height = io.rpc(ctx, lambda c: c.block_height())
            signature = find(ctx, payment_id)
        except AgentError:
            return PaymentStatus.SIGNED.value
        if signature:
            with direct.autocommit(ctx.engine) as conn:
                payments.mark_confirmed(
                    conn,
                    payments.PaymentRef.of(payment, ctx.actor),
                    payment_hash=signature,
                    receipt=None,
                )
        elif (
            payment.last_valid_block_height is not None and height > payment.last_valid_block_height
        ):
            payments.mark_failed(
                ctx.session(),
                payment_id,
                ErrorCategory.UNKNOWN.value,
                "proven dead: not on chain and its blockhash expired",
                actor=ctx.actor,
                details={"block_height": height, "last_valid": payment.last_valid_block_height},
            )
            return PaymentStatus.FAILED.value
        else:
            return PaymentStatus.SIGNED.value
    return verify(ctx, payment_id)


def resolve_unsettled(ctx: AgentContext, url: str) -> None:
    """Before paying for ``url`` again, settle earlier abandoned payments for it.

    Raises:
        SettlementPending: An earlier payment for ``url`` may still land.
    """
    for payment_id in payments.unsettled_for_url(ctx.session(), ctx.agent_id, url):
        if settle(ctx, payment_id) == PaymentStatus.SIGNED.value:
            raise SettlementPending(
                f"an earlier payment for {url} ({payment_id}) is not settled yet: "
                "no second payment before it is proven dead",
                retryable=False,
            )


def settle_request(ctx: AgentContext, request_id: uuid.UUID) -> str:
    """The fate of a request an interrupted run left: its payment settled from the chain,
    the request FAILED if it never finished. Returns the request's status, or SIGNED
    while its payment may still land (nothing is decided then)."""
    outcome = requests_log.outcome(ctx.session(), request_id)
    payment = outcome.payment
    if payment is not None and payment.status in UNSETTLED:
        if settle(ctx, payment.id) == PaymentStatus.SIGNED.value:
            return PaymentStatus.SIGNED.value
    if outcome.request.status.value in ("ACCESSED", "FAILED"):
        return outcome.request.status.value
    if approvals.is_open(ctx.session(), request_id):
        return outcome.request.status.value
    requests_log.fail(
        ctx.session(),
        request_id,
        ErrorCategory.UNKNOWN.value,
        "interrupted: its worker stopped before this request finished",
        details={"reconciled": True},
        actor=ctx.actor,
        payment_id=payment.id if payment is not None else None,
    )
    return "FAILED"


UNSETTLED = (PaymentStatus.INITIATED, PaymentStatus.SIGNED, PaymentStatus.CONFIRMED)


def reconcile(ctx: AgentContext, older_than_s: float = 0.0) -> dict[str, Any]:
    """Settle every unfinished payment and request of the agent (run at every start)."""
    counts: dict[str, int] = {}
    states = (PaymentStatus.INITIATED, PaymentStatus.SIGNED, PaymentStatus.CONFIRMED)
    for payment in payments.in_states(ctx.session(), ctx.agent_id, states, older_than_s):
        outcome = settle(ctx, payment.id)
        key = f"{payment.status.value}->{outcome}"
        counts[key] = counts.get(key, 0) + 1
    stuck = requests_log.unfinished(ctx.session(), ctx.agent_id, older_than_s)
    for request_id in stuck:
        if approvals.is_open(ctx.session(), request_id):
            continue
        requests_log.fail(
            ctx.session(),
            request_id,
            ErrorCategory.UNKNOWN.value,
            "interrupted: the agent stopped before this request finished",
            details={"reconciled": True},
            actor=ctx.actor,
        )
        counts["requests_failed"] = counts.get("requests_failed", 0) + 1
    counts["finalized"] = upgrade_finalized(ctx)
    return counts


def upgrade_finalized(ctx: AgentContext, limit: int = 200) -> int:
    """Add a FINALIZED transaction log to verified payments the chain has finalized."""
    upgraded = 0
    for payment in payments.awaiting_finality(ctx.session(), ctx.agent_id, limit):
        try:
            if not _finalized(ctx, payment.payment_hash or ""):
                continue
        except AgentError:
            break
        payments.add_log(
            ctx.session(),
            payment.id,
            {"signature": payment.payment_hash, "upgraded": "finalized"},
            ConfirmationStatus.FINALIZED,
            None,
        )
        upgraded += 1
    return upgraded


def _finalized(ctx: AgentContext, signature: str) -> bool:
    return io.rpc(ctx, lambda c: c.status(signature)) == "finalized"
