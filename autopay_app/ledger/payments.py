"""The payment side of a paid request: reservation, write-ahead, confirmation, verification.

INITIATED (reserved under the spend lock) -> SIGNED (signed bytes committed
*before* sending) -> CONFIRMED (seller's settlement receipt, or found on chain)
-> VERIFIED (the agent read the transfer on chain itself), or FAILED. One
function per transition: :func:`write_ahead` (bytes the agent's own key signed
before the lock: the reservation, SIGNED, and the request PAID in one durable
statement), or :func:`reserve` then :func:`sign_ahead` (a person's wallet signs
after the reservation) then :func:`mark_paid` (the durable commit of the
write-ahead); :func:`mark_confirmed`, :func:`mark_verified`, :func:`mark_failed`.
Each status change audits itself (a trigger, :mod:`autopay_app.ledger.audit`); the
functions only name the actor.

The transitions on the path of every paid request are single statements on the
agent's psycopg connection (:mod:`autopay_app.ledger.direct`): the write-ahead is
one statement (``autopay_reserve_payment()``: the spend lock, the caps read after
it, the INSERT; then the request PAID) and one durable commit, then confirmation
and verification are one autocommit statement each. The confirmation (the data) is a
durable commit, so nothing is returned that the ledger could lose; the verification,
written after the data is returned, does not wait for the WAL flush: it can be derived
from the chain again. A paid request costs two flushes: the write-ahead's and the
delivery's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.orm import Session

from autopay_app.ledger import audit, direct, spend
from autopay_app.models import (
    ApiRequest,
    ConfirmationStatus,
    ErrorCategory,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    TransactionLog,
)


@dataclass(frozen=True)
class PaymentRef:
    """A payment as the hot path's statements name it, with the actor of the change."""

    payment_id: uuid.UUID
    request_id: uuid.UUID
    actor: str

    @classmethod
    def of(cls, payment: Payment, actor: str) -> PaymentRef:
        return cls(payment.id, payment.api_request_id, actor)


@dataclass(frozen=True)
class Terms:
    """What is paid, to whom and how: known before anything is signed."""

    agent_id: uuid.UUID
    amount: Decimal
    currency: str
    amount_atomic: int
    asset_mint: str
    pay_to: str
    network: str
    facilitator_url: str | None
    x402_version: int


@dataclass(frozen=True)
class SignedBytes:
    """What the payment row holds before it is sent: the signed transaction and its ids."""

    payer_signature: str
    memo: str
    signed_transaction: str
    last_valid_block_height: int
    payment_identifier: str | None
    #: The person's wallet that signed (NULL: the agent's key), migration 0014.
    payer_address: str | None = None


@dataclass(frozen=True)
class Reservation:
    payment_id: uuid.UUID
    spent_hour: Decimal
    spent_day: Decimal


@dataclass(frozen=True)
class Delivery:
    """The paid answer: the data and what the seller answered with."""

    data: Any
    http_status: int
    headers: dict[str, Any]
    latency_ms: int


_RESERVE = """
SELECT * FROM autopay_reserve_payment(
    %(payment_id)s, %(request_id)s, %(agent_id)s, %(amount)s,
    CAST(%(currency)s AS payment_currency), %(amount_atomic)s, %(asset_mint)s, %(pay_to)s,
    %(network)s, %(facilitator_url)s, CAST(%(x402_version)s AS smallint), %(endpoint)s, %(url)s,
    %(actor)s, %(flush)s, %(payer_signature)s, %(memo)s, %(signed_transaction)s,
    CAST(%(last_valid_block_height)s AS bigint), %(payment_identifier)s, %(payer_address)s)
"""
_UNSIGNED = dict.fromkeys(
    (
        "payer_signature",
        "memo",
        "signed_transaction",
        "last_valid_block_height",
        "payment_identifier",
        "payer_address",
    )
)


def reserve(
    conn: direct.Connection,
    ref: PaymentRef,
    terms: Terms,
    *,
    endpoint: str,
    url: str | None = None,
    flush: bool = True,
    signed: SignedBytes | None = None,
) -> Reservation:
    """Reserve the payment: one statement (``autopay_reserve_payment()``, migration 0016)
    takes the agent's spend lock, reads the caps and windows after it was granted, and
    inserts the row only if they allow it: INITIATED, or SIGNED with ``signed`` (the
    write-ahead of bytes signed before the lock).

    On an autocommit ``conn`` the statement is its own transaction (the lock is held
    for it alone); in the caller's transaction the lock is held until it ends (a
    person's wallet signs under it, then :func:`sign_ahead`). Either way the caller
    commits durably (:func:`mark_paid`) before sending. ``flush=False``: the
    transaction's commit does not wait for the WAL flush. Refused: nothing was written.

    Raises:
        spend.CapExceeded: A cap would be exceeded.
        spend.Unsettled: An earlier payment for ``url`` may still land.
    """
    params = _reserve_params(ref, terms, endpoint, url, flush, signed)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_RESERVE, params, prepare=True)
        row = cur.fetchone()
    return _granted(row, ref, terms, endpoint, url)


#: The request PAID, with the 402's instructions and headers when they are not stored yet.
_PAID = """UPDATE api_requests
    SET status = 'PAID',
        http_status = coalesce(CAST(%(http_status)s AS integer), http_status),
        x402_instructions = coalesce(CAST(%(x402_instructions)s AS jsonb), x402_instructions),
        response_headers = coalesce(CAST(%(response_headers)s AS jsonb), response_headers)"""
#: The reservation and, when it was granted, the request PAID: one statement, one
#: durable commit (the write-ahead of bytes the agent's own key signed before the lock).
_WRITE_AHEAD = f"""
WITH r AS MATERIALIZED ({_RESERVE.strip()}), paid AS (
    {_PAID}
    FROM r
    WHERE r.reserved AND id = %(request_id)s
)
SELECT * FROM r
"""


def _reserve_params(
    ref: PaymentRef,
    terms: Terms,
    endpoint: str,
    url: str | None,
    flush: bool,
    signed: SignedBytes | None,
) -> dict[str, Any]:
    return {
        "payment_id": ref.payment_id,
        "request_id": ref.request_id,
        **vars(terms),  # flat fields: no deep copy (asdict cost ~45 us per payment)
        "endpoint": endpoint,
        "url": url,
        "actor": ref.actor,
        "flush": flush,
        **(vars(signed) if signed is not None else _UNSIGNED),
    }


def _paid_params(x402: tuple[dict[str, Any], dict[str, Any]] | None) -> dict[str, Any]:
    """The 402's facts for :data:`_PAID` (None: already stored, kept as they are)."""
    return {
        "http_status": 402 if x402 else None,
        "x402_instructions": _json(x402[0]) if x402 else None,
        "response_headers": _json({"402": x402[1]}) if x402 else None,
    }


def _granted(
    row: dict[str, Any] | None, ref: PaymentRef, terms: Terms, endpoint: str, url: str | None
) -> Reservation:
    """The reservation ``row`` describes, or the refusal with its reason."""
    if row is None or not row["reserved"]:
        policy = row if row is not None and row["per_request_cap"] is not None else None
        spend.checked(policy, terms.amount, endpoint, url)  # raises with the reason
        raise spend.CapExceeded("the ledger's cap check refused the reservation")
    return Reservation(ref.payment_id, Decimal(row["hour"]), Decimal(row["day"]))


def write_ahead(
    conn: direct.Connection,
    ref: PaymentRef,
    terms: Terms,
    signed: SignedBytes,
    *,
    endpoint: str,
    url: str | None,
    x402: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> Reservation:
    """:func:`reserve` with ``signed`` bytes and :func:`mark_paid` in one statement on
    an autocommit ``conn``: under the spend lock the caps are read, the payment is
    written SIGNED and its request PAID, in one durable commit (nothing may be sent
    before it returns). Refused: nothing was written.

    Raises:
        spend.CapExceeded: A cap would be exceeded.
        spend.Unsettled: An earlier payment for ``url`` may still land.
    """
    params = {**_reserve_params(ref, terms, endpoint, url, True, signed), **_paid_params(x402)}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_WRITE_AHEAD, params, prepare=True)
        row = cur.fetchone()
    return _granted(row, ref, terms, endpoint, url)


_SIGN_AHEAD = """
UPDATE payments
SET status = 'SIGNED', payer_signature = %(payer_signature)s, memo = %(memo)s,
    signed_transaction = %(signed_transaction)s,
    last_valid_block_height = %(last_valid_block_height)s,
    payment_identifier = %(payment_identifier)s, payer_address = %(payer_address)s
WHERE id = %(payment_id)s AND status = 'INITIATED'
"""
_MARK_PAID = f"""
WITH {audit.ACTOR_CTE}
{_PAID}
FROM ctx
WHERE id = %(request_id)s
"""


def sign_ahead(conn: direct.Connection, ref: PaymentRef, signed: SignedBytes) -> None:
    """The signed bytes on the payment (INITIATED -> SIGNED), in the transaction of
    :func:`reserve`; the request follows in :func:`mark_paid`."""
    conn.execute(_SIGN_AHEAD, {"payment_id": ref.payment_id, **vars(signed)}, prepare=True)


def mark_paid(
    conn: direct.Connection,
    ref: PaymentRef,
    x402: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> None:
    """The request PAID (with the 402's instructions and headers when not stored yet):
    one statement on an autocommit ``conn``, a durable commit. It always writes, so its
    commit flushes the WAL up to itself: a reservation and signed bytes committed
    before it without a flush (``reserve(..., flush=False)``) are durable once it returns.

    Raises:
        LookupError: No such request (nothing was written, nothing flushed).
    """
    written = conn.execute(
        _MARK_PAID,
        {"actor": ref.actor, "request_id": ref.request_id, **_paid_params(x402)},
        prepare=True,
    ).rowcount
    if written != 1:
        raise LookupError(f"no request {ref.request_id} to mark PAID")


_MARK_CONFIRMED = f"""
WITH {audit.ACTOR_CTE}, p AS (
    UPDATE payments
    SET status = CASE WHEN status IN ('INITIATED', 'SIGNED') THEN 'CONFIRMED'::payment_status
                      ELSE status END,
        payment_hash = coalesce(payment_hash, %(payment_hash)s),
        verification_callback = coalesce(CAST(%(receipt)s AS jsonb), verification_callback)
    FROM ctx
    WHERE id = %(payment_id)s
    RETURNING api_request_id
), r AS (
    UPDATE api_requests
    SET status = 'ACCESSED', data_accessed = CAST(%(data)s AS jsonb),
        http_status = %(http_status)s, latency_ms = %(latency_ms)s,
        response_headers = coalesce(response_headers, '{{}}'::jsonb)
            || jsonb_build_object(CAST(%(status_key)s AS text), CAST(%(headers)s AS jsonb))
    WHERE CAST(%(accessed)s AS boolean) AND id IN (SELECT api_request_id FROM p)
)
SELECT 1 FROM p
"""


def mark_confirmed(
    conn: direct.Connection,
    ref: PaymentRef,
    *,
    payment_hash: str,
    receipt: dict[str, Any] | None,
    delivery: Delivery | None = None,
) -> bool:
    """The payment settled: SIGNED (or INITIATED) -> CONFIRMED with its transaction id and
    the seller's receipt; with a ``delivery`` the request is ACCESSED with its data.

    One statement on an autocommit ``conn``, from any state: a payment another
    process confirmed or verified first keeps its status (VERIFIED follows once
    the agent has read the transfer on chain). A durable commit: the data it returns
    is never lost. Returns False when there is no such payment.
    """
    data = delivery or Delivery(None, 0, {}, 0)
    written = conn.execute(
        _MARK_CONFIRMED,
        {
            "actor": ref.actor,
            "payment_id": ref.payment_id,
            "payment_hash": payment_hash,
            "receipt": _json(receipt),
            "accessed": delivery is not None,
            "data": _json(data.data),
            "http_status": data.http_status,
            "latency_ms": data.latency_ms,
            "status_key": str(data.http_status),
            "headers": _json(data.headers),
        },
        prepare=True,
    ).fetchone()
    return written is not None


_MARK_VERIFIED = f"""
WITH {audit.ACTOR_CTE}, {direct.NO_FLUSH_CTE}, p AS (
    UPDATE payments SET status = 'VERIFIED'
    FROM ctx, no_flush
    WHERE id = %(payment_id)s AND status = 'CONFIRMED'
    RETURNING id
), t AS (
    INSERT INTO transaction_logs (payment_id, solana_tx_metadata, confirmation_status, gas_fees)
    SELECT id, CAST(%(metadata)s AS jsonb), CAST(%(level)s AS confirmation_status), %(fee)s
    FROM p
)
SELECT 1 FROM p
"""


def mark_verified(
    conn: direct.Connection,
    ref: PaymentRef,
    *,
    metadata: dict[str, Any],
    level: ConfirmationStatus,
    fee_lamports: int | None,
) -> bool:
    """CONFIRMED -> VERIFIED: the agent read the transfer on chain and it matched.

    One statement on an autocommit ``conn``: the status and the transaction log at
    ``level``. Its commit does not wait for the WAL flush
    (:data:`~autopay_app.ledger.direct.NO_FLUSH_CTE`): the payment's delivery is durable
    already, and should PostgreSQL itself crash before the next durable commit flushes
    this one, the payment is CONFIRMED again and reconciliation verifies it anew from the
    chain. Returns False (nothing written) when the payment is not CONFIRMED.
    """
    written = conn.execute(
        _MARK_VERIFIED,
        {
            "actor": ref.actor,
            "payment_id": ref.payment_id,
            "metadata": _json(metadata),
            "level": level.value,
            "fee": _fee(fee_lamports),
        },
        prepare=True,
    ).fetchone()
    return written is not None


_DEFERRED = f"""
WITH {audit.ACTOR_CTE}
INSERT INTO audit_events (agent_id, event_type, severity, related_id, details)
SELECT p.agent_id, 'NETWORK_ISSUE', 'WARNING', p.id,
       jsonb_build_object('payment_id', p.id, 'api_request_id', p.api_request_id,
                          'payment_hash', p.payment_hash, 'status', p.status::text,
                          'actor', ctx.actor, 'message', CAST(%(message)s AS text))
FROM payments p, ctx
WHERE p.id = %(payment_id)s
"""


def verification_deferred(conn: direct.Connection, ref: PaymentRef, message: str) -> bool:
    """The agent could not read the transfer back (RPC trouble): a NETWORK_ISSUE event says
    so, and reconciliation verifies the payment later. One statement on an autocommit
    ``conn``, a durable commit. Returns False when there is no such payment."""
    written = conn.execute(
        _DEFERRED, {"actor": ref.actor, "payment_id": ref.payment_id, "message": message}
    ).rowcount
    return written == 1


def mark_failed(
    session: Session,
    payment_id: uuid.UUID,
    category: str,
    message: str,
    *,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """FAILED (releases the reservation) with its classification; the PAYMENT_FAILURE
    event carries ``category``, ``message`` and ``details``."""
    with session.begin():
        audit.tag(
            session, actor, {"category": category, "message": message[:1000], **(details or {})}
        )
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


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


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
                gas_fees=_fee(fee_lamports),
                error_message=error,
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


def unsettled_for_url(session: Session, agent_id: uuid.UUID, url: str) -> list[uuid.UUID]:
    """SIGNED payments of ``agent_id`` for ``url`` whose request failed: abandoned, maybe
    landed. Their fate is settled from the chain before ``url`` is paid for again."""
    with session.begin():
        return list(
            session.scalars(
                sa.select(Payment.id)
                .join(ApiRequest)
                .where(
                    Payment.agent_id == agent_id,
                    Payment.status == PaymentStatus.SIGNED,
                    ApiRequest.url == url,
                    ApiRequest.status == RequestStatus.FAILED,
                )
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
