"""What a fetch ended with, as the caller sees it."""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from autopay_app.agent.context import AgentContext
from autopay_app.ledger import queue, requests_log

#: How long a service waits for a payment's verification before it reports the payment.
VERIFY_WAIT_S = 30.0


@dataclass
class FetchResult:
    """What a fetch ended with; ``status`` is ACCESSED, FAILED or AWAITING_APPROVAL.

    A paid fetch returns its data once the delivery is written; the transfer's check on
    chain (VERIFIED) is written right after, beside the caller (``verification``):
    :meth:`wait_verified` waits for it. A payment counts as done once VERIFIED.
    """

    request_id: uuid.UUID
    status: str
    data: Any = None
    payment_id: uuid.UUID | None = None
    payment_hash: str | None = None
    amount: Decimal | None = None
    asset: str | None = None
    error: str | None = None
    category: str | None = None
    http_status: int | None = None
    latency_ms: int | None = None
    verification: Future[None] | None = field(default=None, repr=False, compare=False)

    def wait_verified(self, timeout: float = VERIFY_WAIT_S) -> bool:
        """Wait until this fetch's payment is verified on chain (VERIFIED written, or its
        mismatch or deferral recorded); True at once when nothing is pending, False on
        timeout."""
        if self.verification is None:
            return True
        try:
            self.verification.result(timeout)
        except TimeoutError:
            return False
        return True

    @property
    def explorer_url(self) -> str | None:
        if not self.payment_hash:
            return None
        return f"https://explorer.solana.com/tx/{self.payment_hash}?cluster=devnet"


def recorded(
    ctx: AgentContext,
    request_id: uuid.UUID,
    *,
    error: str | None = None,
    category: str | None = None,
) -> FetchResult:
    """The result as the ledger has it now (the request and its latest payment)."""
    outcome = requests_log.outcome(ctx.session(), request_id)
    request, payment = outcome.request, outcome.payment
    return FetchResult(
        request_id=request_id,
        status=str(request.status),
        data=request.data_accessed,
        payment_id=payment.id if payment else None,
        payment_hash=payment.payment_hash if payment else None,
        amount=payment.amount if payment else None,
        asset=str(payment.currency) if payment else None,
        error=error,
        category=category,
        http_status=request.http_status,
        latency_ms=request.latency_ms,
    )


def recorded_by_worker(ctx: AgentContext, request_id: uuid.UUID) -> FetchResult:
    """:func:`recorded` for a request another process ran (a queued job): its failure's
    classification read back from the ledger, since no exception reached this process."""
    outcome = queue.outcomes(ctx.session(), [str(request_id)]).get(str(request_id))
    if outcome is None or outcome.status != "FAILED":
        return recorded(ctx, request_id)
    return recorded(ctx, request_id, error=outcome.message, category=outcome.category)
