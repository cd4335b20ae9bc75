"""In-memory ledger of payments seen by this process: replay and idempotency.

Every paid request is keyed by the hash of the buyer-signed transaction
message (see :func:`strict.replay_key`). The key is *claimed* atomically
before anything reaches the facilitator or the data handler, so of N copies
of one payment only one proceeds; the others are refused while it is in
flight, and after it settled. A settled payment whose data was not delivered
(the handler failed after settlement) can be redeemed once more without
paying; a payment-identifier lets a retried request get the cached response.

Every record is bound to the exact payload that created it: the SHA-256 of the
buyer's signed transaction as sent (``fingerprint``: message *and*
signatures) and the payer (the transfer's authority). A payment-identifier
answers with its cached response only to that same payload; any other payload
carrying the id (another buyer's, a corrupted signature, a new transaction)
gets 409 and never reads the cache. Redelivery of undelivered data likewise
needs the exact payload, not just a copy of its message.

The ledger lives in memory: it protects one running process. On-chain, a
signed transaction can land at most once anyway, so a restart cannot cause a
second transfer, only a second refusal path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

MAX_RECORDS = 100_000


class Decision(Enum):
    """What to do with a request carrying a payment."""

    PROCEED = "proceed"  # new payment: verify, serve, settle
    IN_FLIGHT = "in_flight"  # the same payment is being processed right now
    DUPLICATE = "duplicate"  # already settled and delivered
    REDELIVER = "redeliver"  # settled, data not delivered: serve without charging
    CACHED = "cached"  # payment-identifier seen: replay the stored response
    ID_CONFLICT = "id_conflict"  # payment-identifier reused (another resource or payload)


@dataclass
class StoredResponse:
    """A response kept for payment-identifier retries."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What identifies one payment attempt.

    Attributes:
        key: Replay key: hash of the signed message (:func:`strict.replay_key`).
        path: Resource path requested.
        payment_id: The payment-identifier extension's id, if any.
        fingerprint: Hash of the exact signed transaction (message and signatures).
        payer: The transfer's authority (the buyer's wallet).
    """

    key: str
    path: str
    payment_id: str | None = None
    fingerprint: str = ""
    payer: str = ""


@dataclass
class PaymentRecord:
    """One payment this process has seen."""

    key: str
    path: str
    payment_id: str | None = None
    fingerprint: str = ""
    payer: str = ""
    settled: bool = False
    delivered: bool = False
    transaction: str = ""
    receipt_headers: list[tuple[str, str]] = field(default_factory=list)
    response: StoredResponse | None = None


class PaymentLedger:
    """Thread-safe claims on payments, bounded in size (oldest forgotten first)."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._records: OrderedDict[str, PaymentRecord] = OrderedDict()
        self._by_id: dict[str, str] = {}
        self._by_tx: dict[str, str] = {}
        self._max = max_records

    def claim(self, claim: Claim) -> tuple[Decision, PaymentRecord]:
        """Decide what to do with a payment and claim it when it is new.

        Args:
            claim: The payment's replay key, path, identifier and payload binding.

        Returns:
            The decision and the record it concerns.
        """
        with self._lock:
            if claim.payment_id is not None and claim.payment_id in self._by_id:
                record = self._records[self._by_id[claim.payment_id]]
                return self._decide_by_id(record, claim), record
            existing = self._records.get(claim.key)
            if existing is None:
                fresh = PaymentRecord(
                    key=claim.key,
                    path=claim.path,
                    payment_id=claim.payment_id,
                    fingerprint=claim.fingerprint,
                    payer=claim.payer,
                )
                self._insert(fresh)
                return Decision.PROCEED, fresh
            return self._decide_existing(existing, claim), existing

    @staticmethod
    def _same_payload(record: PaymentRecord, claim: Claim) -> bool:
        return record.fingerprint == claim.fingerprint and record.payer == claim.payer

    def _decide_by_id(self, record: PaymentRecord, claim: Claim) -> Decision:
        if record.path != claim.path or not self._same_payload(record, claim):
            return Decision.ID_CONFLICT
        if not record.settled:
            return Decision.IN_FLIGHT
        if not record.delivered:
            return self._take_redelivery(record)
        return Decision.CACHED if record.response is not None else Decision.DUPLICATE

    def _decide_existing(self, record: PaymentRecord, claim: Claim) -> Decision:
        if not record.settled:
            return Decision.IN_FLIGHT
        redeemable = record.path == claim.path and self._same_payload(record, claim)
        if not record.delivered and redeemable:
            return self._take_redelivery(record)
        return Decision.DUPLICATE

    @staticmethod
    def _take_redelivery(record: PaymentRecord) -> Decision:
        # Mark delivered under the lock so two concurrent redemptions cannot
        # both get data; a failed redelivery calls mark_undelivered().
        record.delivered = True
        return Decision.REDELIVER

    def _insert(self, record: PaymentRecord) -> None:
        self._records[record.key] = record
        if record.payment_id is not None:
            self._by_id[record.payment_id] = record.key
        while len(self._records) > self._max:
            _, old = self._records.popitem(last=False)
            self._by_id.pop(old.payment_id or "", None)
            self._by_tx.pop(old.transaction, None)

    def release(self, key: str) -> None:
        """Forget an unsettled claim (the payment was refused or not attempted)."""
        with self._lock:
            record = self._records.get(key)
            if record is not None and not record.settled:
                del self._records[key]
                if record.payment_id is not None:
                    self._by_id.pop(record.payment_id, None)

    def settle(
        self,
        key: str,
        transaction: str,
        receipt_headers: list[tuple[str, str]],
        delivered: bool,
        response: StoredResponse | None,
    ) -> None:
        """Record a successful settlement and whether the data reached the buyer."""
        with self._lock:
            record = self._records[key]
            record.settled = True
            record.transaction = transaction
            record.receipt_headers = receipt_headers
            record.delivered = delivered
            record.response = response
            if transaction:
                self._by_tx[transaction] = key

    def mark_undelivered(self, key: str) -> None:
        """The data of a settled payment did not reach the buyer (again)."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.delivered = False

    def store_response(self, key: str, response: StoredResponse) -> None:
        """Keep the delivered response of a payment for identifier retries."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.response = response

    def redeem_receipt(self, transaction: str, path: str) -> PaymentRecord | None:
        """Claim an undelivered settled payment by its transaction signature.

        Returns:
            The record, now marked delivered, or None when there is nothing to redeem.
        """
        with self._lock:
            key = self._by_tx.get(transaction)
            record = self._records.get(key) if key else None
            if record is None or record.delivered or record.path != path:
                return None
            record.delivered = True
            return record
