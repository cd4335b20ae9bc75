"""The payment side of the flow: write-ahead, confirmation, verification, failure.

INITIATED (reserved) -> SIGNED (signed bytes committed *before* sending) ->
CONFIRMED (seller's settlement receipt, or found on chain) -> VERIFIED (the
agent read the transfer on chain itself), or FAILED. Each status change writes
its audit event through :mod:`autopay_app.ledger.hooks`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from autopay_app.models import (
    ApiRequest,
    AuditEvent,
    AuditEventType,
    ConfirmationStatus,
    ErrorCategory,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    Severity,
    TransactionLog,
)


def mark_signed(
    session: Session,
    payment_id: uuid.UUID,
    *,
    payer_signature: str,
    memo: str,
    signed_transaction: str,
    last_valid_block_height: int,
    payment_identifier: str | None,
) -> None:
    """Write-ahead: the signed bytes are durable before anything is sent."""
    with session.begin():
        payment = session.get_one(Payment, payment_id)
        payment.payer_signature, payment.memo = payer_signature, memo
        payment.signed_transaction = signed_transaction
        payment.last_valid_block_height = last_valid_block_height
        payment.payment_identifier = payment_identifier
        payment.status = PaymentStatus.SIGNED
        _set_request(session, payment.api_request_id, status=RequestStatus.PAID)


def mark_confirmed(
    session: Session,
    payment_id: uuid.UUID,
    *,
    payment_hash: str,
    receipt: dict[str, Any] | None,
    data: Any = None,
    http_status: int | None = None,
    headers: dict[str, Any] | None = None,
    latency_ms: int | None = None,
    accessed: bool = True,
    verified: tuple[dict[str, Any], int | None] | None = None,
) -> None:
    """The payment settled; with ``accessed`` the request got its data too.

    With ``verified`` (the chain's transaction summary and fee, already checked),
    the payment goes on to VERIFIED in the same transaction: one commit, and the
    status history still shows CONFIRMED then VERIFIED.
    """
    with session.begin():
        payment = session.get_one(Payment, payment_id)
        if payment.status in (PaymentStatus.SIGNED, PaymentStatus.INITIATED):
            payment.status = PaymentStatus.CONFIRMED
        if verified is not None:
            session.flush()
            payment.status = PaymentStatus.VERIFIED
            session.add(
                TransactionLog(
                    payment_id=payment_id,
                    solana_tx_metadata=verified[0],
                    confirmation_status=ConfirmationStatus.CONFIRMED,
                    gas_fees=_fee(verified[1]),
                )
            )
        payment.payment_hash = payment.payment_hash or payment_hash
        if receipt is not None:
            payment.verification_callback = receipt
        if not accessed:
            return
        # One UPDATE (no read): the 200's headers join the 402's under their status.
        _set_request(
            session,
            payment.api_request_id,
            status=RequestStatus.ACCESSED,
            data_accessed=data,
            http_status=http_status,
            latency_ms=latency_ms,
            response_headers=sa.func.coalesce(
                ApiRequest.response_headers, sa.text("'{}'::jsonb")
            ).op("||")(
                sa.func.jsonb_build_object(str(http_status), sa.cast(headers, postgresql.JSONB))
            ),
        )
        session.add(
            AuditEvent(
                agent_id=payment.agent_id,
                event_type=AuditEventType.API_ACCESS,
                related_id=payment.api_request_id,
                details={
                    "endpoint": endpoint_of(session, payment.api_request_id),
                    "http_status": http_status,
                    "payment_hash": payment_hash,
                    "latency_ms": latency_ms,
                },
            )
        )


def _set_request(session: Session, request_id: uuid.UUID, **values: Any) -> None:
    session.execute(sa.update(ApiRequest).where(ApiRequest.id == request_id).values(**values))


def endpoint_of(session: Session, request_id: uuid.UUID) -> str | None:
    return session.scalar(sa.select(ApiRequest.endpoint).where(ApiRequest.id == request_id))


def _fee(lamports: int | None) -> Decimal | None:
    return Decimal(lamports) if lamports is not None else None


def add_log(
    session: Session,
    payment_id: uuid.UUID,
    metadata: dict[str, Any],
    level: ConfirmationStatus,
    fee_lamports: int | None,
    error: str | None = None,
) -> None:
    with session.begin():
        session.add(
            TransactionLog(
                payment_id=payment_id,
                solana_tx_metadata=metadata,
                confirmation_status=level,
                gas_fees=Decimal(fee_lamports) if fee_lamports is not None else None,
                error_message=error,
            )
        )


def mark_verified(
    session: Session,
    payment_id: uuid.UUID,
    metadata: dict[str, Any],
    level: ConfirmationStatus,
    fee_lamports: int | None,
) -> None:
    with session.begin():
        payment = session.get_one(Payment, payment_id)
        payment.status = PaymentStatus.VERIFIED
        session.add(
            TransactionLog(
                payment_id=payment_id,
                solana_tx_metadata=metadata,
                confirmation_status=level,
                gas_fees=Decimal(fee_lamports) if fee_lamports is not None else None,
            )
        )


def mark_failed(
    session: Session,
    payment_id: uuid.UUID,
    category: str,
    message: str,
    *,
    severity: Severity = Severity.ERROR,
    details: dict[str, Any] | None = None,
) -> None:
    """FAILED (releases the reservation) with its classification."""
    with session.begin():
        payment = session.get_one(Payment, payment_id)
        payment.status = PaymentStatus.FAILED
        session.add(
            ErrorClassification(
                agent_id=payment.agent_id,
                payment_id=payment_id,
                api_request_id=payment.api_request_id,
                category=ErrorCategory(category),
                retryable=False,
                message=message[:4000],
                details=details,
            )
        )
        if severity is Severity.ERROR and category == ErrorCategory.SIGNATURE_INVALID:
            session.add(
                AuditEvent(
                    agent_id=payment.agent_id,
                    event_type=AuditEventType.PAYMENT_FAILURE,
                    severity=Severity.ERROR,
                    related_id=payment_id,
                    details={"category": category, "message": message[:1000], **(details or {})},
                )
            )


def get(session: Session, payment_id: uuid.UUID) -> Payment:
    with session.begin():
        return session.get_one(Payment, payment_id)


def in_states(
    session: Session,
    agent_id: uuid.UUID,
    states: tuple[PaymentStatus, ...],
    older_than_s: float = 0,
) -> list[Payment]:
    with session.begin():
        return list(
            session.scalars(
                sa.select(Payment)
                .where(
                    Payment.agent_id == agent_id,
                    Payment.status.in_(states),
                    Payment.updated_at
                    <= sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_s),
                )
                .order_by(Payment.created_at)
            )
        )


def latest_level(session: Session, payment_id: uuid.UUID) -> ConfirmationStatus | None:
    with session.begin():
        return session.scalar(
            sa.select(TransactionLog.confirmation_status)
            .where(TransactionLog.payment_id == payment_id)
            .order_by(TransactionLog.created_at.desc())
            .limit(1)
        )


def awaiting_finality(session: Session, agent_id: uuid.UUID, limit: int) -> list[Payment]:
    """VERIFIED payments without a FINALIZED transaction log yet, oldest first."""
    finalized = sa.exists().where(
        TransactionLog.payment_id == Payment.id,
        TransactionLog.confirmation_status == ConfirmationStatus.FINALIZED,
    )
    with session.begin():
        return list(
            session.scalars(
                sa.select(Payment)
                .where(
                    Payment.agent_id == agent_id,
                    Payment.status == PaymentStatus.VERIFIED,
                    ~finalized,
                )
                .order_by(Payment.created_at)
                .limit(limit)
            )
        )
