"""The payment side of the flow: write-ahead, confirmation, verification, failure.

INITIATED (reserved) -> SIGNED (signed bytes committed *before* sending) ->
CONFIRMED (seller's settlement receipt, or found on chain) -> VERIFIED (the
agent read the transfer on chain itself), or FAILED. Each status change writes
its audit event: through :mod:`autopay_app.ledger.hooks` for ORM changes, and
inside the statement itself on the agent's hot path (:func:`write_ahead`,
:func:`mark_delivered`, :func:`mark_verified`: one round trip each, built with
the same :func:`~autopay_app.ledger.hooks.status_event`). A payment is born
SIGNED: reserved and signed under the spend lock in one transaction, its history
INITIATED -> SIGNED recorded with it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from autopay_app.ledger import audit_rows, direct, hooks
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


@dataclass(frozen=True)
class PaymentRef:
    """What the hot path's statements need to know about a payment to audit it."""

    payment_id: uuid.UUID
    request_id: uuid.UUID
    agent_id: uuid.UUID
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, payment: Payment) -> PaymentRef:
        return cls(
            payment.id, payment.api_request_id, payment.agent_id, payment.amount, payment.currency
        )

    def status_event(self, before: str | None, after: str, payment_hash: str | None) -> Any:
        return hooks.status_event(
            payment_id=self.payment_id,
            request_id=self.request_id,
            before=before,
            after=after,
            amount=self.amount,
            currency=self.currency,
            payment_hash=payment_hash,
        )


@dataclass(frozen=True)
class WriteAhead:
    """What a payment row holds before it is sent: the terms and the signed bytes."""

    amount_atomic: int
    asset_mint: str
    pay_to: str
    network: str
    facilitator_url: str | None
    x402_version: int
    payer_signature: str
    memo: str
    signed_transaction: str
    last_valid_block_height: int
    payment_identifier: str | None


_WRITE_AHEAD = """
WITH p AS (
    INSERT INTO payments (id, api_request_id, agent_id, amount, currency, amount_atomic,
                          asset_mint, pay_to, network, facilitator_url, x402_version, status,
                          payer_signature, memo, signed_transaction, last_valid_block_height,
                          payment_identifier)
    VALUES (%(payment_id)s, %(request_id)s, %(agent_id)s, %(amount)s,
            CAST(%(currency)s AS payment_currency), %(amount_atomic)s, %(asset_mint)s,
            %(pay_to)s, %(network)s, %(facilitator_url)s, %(x402_version)s, 'SIGNED',
            %(payer_signature)s, %(memo)s, %(signed_transaction)s,
            %(last_valid_block_height)s, %(payment_identifier)s)
    RETURNING api_request_id
), r AS (
    UPDATE api_requests
    SET status = 'PAID',
        http_status = coalesce(CAST(%(http_status)s AS integer), http_status),
        x402_instructions = coalesce(CAST(%(x402_instructions)s AS jsonb), x402_instructions),
        response_headers = coalesce(CAST(%(response_headers)s AS jsonb), response_headers)
    WHERE id IN (SELECT api_request_id FROM p)
)
""" + audit_rows.insert_events()


def write_ahead(
    conn: direct.Connection,
    ref: PaymentRef,
    payment: WriteAhead,
    x402: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> None:
    """The payment with its signed bytes, durable before anything is sent.

    One statement, inside the transaction that holds the spend lock
    (:func:`autopay_app.ledger.spend.reserve`): the row (SIGNED, its history
    INITIATED -> SIGNED in the audit trail) and the request PAID, with the 402's
    instructions and headers (``x402``) when they are not stored yet.
    """
    conn.execute(
        _WRITE_AHEAD,
        {
            "payment_id": ref.payment_id,
            "request_id": ref.request_id,
            "agent_id": ref.agent_id,
            "amount": ref.amount,
            "currency": str(ref.currency),
            **asdict(payment),
            "http_status": 402 if x402 else None,
            "x402_instructions": _json(x402[0]) if x402 else None,
            "response_headers": _json({"402": x402[1]}) if x402 else None,
            "events": audit_rows.rows(
                ref.status_event(None, "INITIATED", None),
                ref.status_event("INITIATED", "SIGNED", None),
            ),
        },
        prepare=True,
    )


_MARK_DELIVERED = (
    """
WITH p AS (
    UPDATE payments
    SET status = 'CONFIRMED',
        payment_hash = coalesce(payment_hash, %(payment_hash)s),
        verification_callback = coalesce(CAST(%(receipt)s AS jsonb), verification_callback)
    WHERE id = %(payment_id)s AND status = 'SIGNED'
    RETURNING id
), r AS (
    UPDATE api_requests
    SET status = 'ACCESSED', data_accessed = CAST(%(data)s AS jsonb),
        http_status = %(http_status)s, latency_ms = %(latency_ms)s,
        response_headers = coalesce(response_headers, '{}'::jsonb)
            || jsonb_build_object(CAST(%(status_key)s AS text), CAST(%(headers)s AS jsonb))
    WHERE id = %(request_id)s AND EXISTS (SELECT 1 FROM p)
)
"""
    + audit_rows.insert_events("WHERE EXISTS (SELECT 1 FROM p)")
    + "RETURNING 1"
)


def mark_delivered(
    conn: direct.Connection,
    ref: PaymentRef,
    *,
    payment_hash: str,
    receipt: dict[str, Any] | None,
    data: Any,
    http_status: int,
    headers: dict[str, Any],
    latency_ms: int,
    endpoint: str,
) -> bool:
    """The paid answer arrived: SIGNED -> CONFIRMED with the seller's receipt, the request
    ACCESSED with its data, and their audit events, in one statement on an autocommit
    ``conn``. (VERIFIED follows once the agent has read the transfer on chain.)

    Returns False (nothing written) when the payment is no longer SIGNED; the caller
    then goes through :func:`mark_confirmed`, which handles every state.
    """
    access = {
        "event_type": AuditEventType.API_ACCESS,
        "related_id": ref.request_id,
        "details": {
            "endpoint": endpoint,
            "http_status": http_status,
            "payment_hash": payment_hash,
            "latency_ms": latency_ms,
        },
    }
    written = conn.execute(
        _MARK_DELIVERED,
        {
            "payment_id": ref.payment_id,
            "request_id": ref.request_id,
            "agent_id": ref.agent_id,
            "payment_hash": payment_hash,
            "receipt": _json(receipt),
            "data": _json(data),
            "http_status": http_status,
            "latency_ms": latency_ms,
            "status_key": str(http_status),
            "headers": _json(headers),
            "events": audit_rows.rows(
                ref.status_event("SIGNED", "CONFIRMED", payment_hash), access
            ),
        },
        prepare=True,
    ).fetchone()
    return written is not None


_MARK_VERIFIED = (
    """
WITH p AS (
    UPDATE payments SET status = 'VERIFIED'
    WHERE id = %(payment_id)s AND status = 'CONFIRMED'
    RETURNING id
), t AS (
    INSERT INTO transaction_logs (payment_id, solana_tx_metadata, confirmation_status, gas_fees)
    SELECT id, CAST(%(metadata)s AS jsonb), CAST(%(level)s AS confirmation_status), %(fee)s
    FROM p
)
"""
    + audit_rows.insert_events("WHERE EXISTS (SELECT 1 FROM p)")
    + "RETURNING 1"
)


def mark_verified(
    conn: direct.Connection,
    ref: PaymentRef,
    *,
    payment_hash: str | None,
    metadata: dict[str, Any],
    level: ConfirmationStatus,
    fee_lamports: int | None,
) -> bool:
    """CONFIRMED -> VERIFIED: the agent read the transfer on chain and it matched.

    One statement on an autocommit ``conn``: the status, the transaction log at
    ``level`` and the PAYMENT_SUCCESS audit event. Returns False (nothing written)
    when the payment is not CONFIRMED.
    """
    written = conn.execute(
        _MARK_VERIFIED,
        {
            "payment_id": ref.payment_id,
            "agent_id": ref.agent_id,
            "metadata": _json(metadata),
            "level": level.value,
            "fee": _fee(fee_lamports),
            "events": audit_rows.rows(ref.status_event("CONFIRMED", "VERIFIED", payment_hash)),
        },
        prepare=True,
    ).fetchone()
    return written is not None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


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
) -> None:
    """The payment settled (from any state); with ``accessed`` the request got its data.

    The general path: reconciliation, and the flow when another process moved the
    payment first. The flow's own path is :func:`mark_delivered`.
    """
    with session.begin():
        payment = session.get_one(Payment, payment_id)
        if payment.status in (PaymentStatus.SIGNED, PaymentStatus.INITIATED):
            payment.status = PaymentStatus.CONFIRMED
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
