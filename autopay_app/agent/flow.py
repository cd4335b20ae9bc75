"""One paid request, as data (DESIGN.md): every step lands in the ledger.

1. ApiRequest PENDING.  2. GET; a 402 is parsed (PAYMENT_REQUIRED, stored with
the reservation).  3. Policy chooses an offer or refuses.  4. Balance guard.
(Phase 2: a person approves here.)  5. One transaction: the spend lock and the
caps (INITIATED), signing, the signed bytes written ahead (SIGNED, request
PAID); only after its commit is anything sent.  6. 200: data and receipt
stored, CONFIRMED / ACCESSED, while the agent reads the transfer on chain
itself.  7. TransactionLog, VERIFIED.  Failures are classified; retries resend
the *same* signed bytes while their blockhash is valid.

The steps on the path of every paid request are single SQL statements
(:mod:`autopay_app.ledger.payments`, :mod:`~autopay_app.ledger.spend`), and the
two chain reads overlap ledger writes (blockhash during the first GET, the
transfer during the delivery write): the agent's cost over a bare x402 client is
four commits and one RPC read (``autopay bench``).
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from autopay_app.agent import crash, diagnosis, gateway, retry, settle
from autopay_app.agent.chain import rpc_failure
from autopay_app.agent.errors import (
    AgentError,
    DuplicatePayment,
    FacilitatorRejected,
    PolicyDenied,
    SettlementPending,
    SignatureInvalid,
)
from autopay_app.agent.gateway import PaymentRequiredInfo, SignedPayment
from autopay_app.agent.http import Answer
from autopay_app.agent.policy import Choice, Context, rank
from autopay_app.agent.verify import Expected, Verified
from autopay_app.ledger import payments, requests_log, spend
from autopay_app.models import ApiType, ConfirmationStatus, PaymentStatus

if TYPE_CHECKING:
    from autopay_app.agent.core import Agent

DUPLICATE_HINTS = ("duplicate", "already", "replay")


@dataclass
class FetchResult:
    """What a fetch ended with; ``status`` is ACCESSED, FAILED or AWAITING_APPROVAL."""

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

    @property
    def explorer_url(self) -> str | None:
        if not self.payment_hash:
            return None
        return f"https://explorer.solana.com/tx/{self.payment_hash}?cluster=devnet"


def api_type_for(path: str) -> ApiType:
    return ApiType.KNOWLEDGE_DATA if "/knowledge" in path else ApiType.MARKET_DATA


class PaymentFlow:
    """The state of one request through the flow; the agent drives it."""

    def __init__(
        self, agent: Agent, url: str, *, max_amount: Decimal | None = None, asset: str | None = None
    ) -> None:
        self.agent, self.url = agent, url
        self.parts = urlsplit(url)
        self.max_amount, self.asset = max_amount, asset
        self.request_id: uuid.UUID | None = None
        self.info: PaymentRequiredInfo | None = None
        self.choice: Choice | None = None
        self.payment_id: uuid.UUID | None = None
        self.signed: SignedPayment | None = None
        self.last_valid: int | None = None
        self._blockhash: Future[tuple[str, int]] | None = None
        self._unrecorded_402: tuple[dict[str, Any], dict[str, str]] | None = None

    @property
    def seller(self) -> str:
        return f"seller:{self.parts.netloc}"

    @property
    def endpoint(self) -> str:
        return (self.parts.path or "/")[:255]

    def open(self) -> uuid.UUID:
        payload = {"method": "GET", "url": self.url, "query": self.parts.query}
        with self.agent.write() as conn:
            self.request_id = requests_log.open_request(
                conn,
                self.agent.actor,
                self.agent.agent_id,
                self.url,
                self.endpoint,
                api_type_for(self.parts.path),
                payload,
            )
        return self.request_id

    # ------------------------------------------------------------------ 2. ask
    def ask(self) -> Answer | None:
        """GET the resource; returns the answer if it was free (no 402).

        The blockhash a payment would need is read meanwhile (the agent buys paid
        resources: a free one costs one wasted read).
        """
        self._blockhash = self.agent.in_background(
            lambda: self.agent.rpc(lambda c: c.latest_blockhash())
        )
        answer = self._with_retries(lambda: self.agent.guarded_get(self.seller, self.url))
        if answer.status == 402:
            self.info = gateway.parse_payment_required(answer.headers, answer.body)
            # Written with the reservation (one commit), or by record_402() on any other path.
            self._unrecorded_402 = (self.info.document, answer.headers)
            return None
        if 200 <= answer.status < 300:
            return answer
        raise AgentError(f"{self.url} answered {answer.status}", category="UNKNOWN")

    def record_402(self) -> None:
        """Store the 402's instructions and headers unless they are stored already (a paid
        request stores them with its payment; every other path calls this)."""
        if self._unrecorded_402 is None:
            return
        document, headers = self._unrecorded_402
        with self.agent.write() as conn:
            requests_log.record_402(conn, self.agent.actor, self._rid, document, headers)
        self._unrecorded_402 = None

    # --------------------------------------------------------------- 3-4. decide
    def decide(self) -> Choice:
        assert self.info is not None
        hosts, recipients = self.agent.premium_defaults({o.pay_to for o in self.info.offers})
        ctx = Context(
            agent_address=self.agent.address,
            host=self.parts.netloc,
            mints=self.agent.mints,
            max_amount=self.max_amount,
            asset=self.asset,
            catalog_price=self.agent.catalog.prices(self.url),
            default_hosts=hosts,
            default_recipients=recipients,
        )
        choices = rank(self.info.offers, self.agent.policy(), ctx)
        for choice in choices:
            if self.agent.guard.has_funds(choice.asset, choice.amount):
                self.choice = choice
                return choice
        self.agent.guard.ensure_funds(choices[0].asset, choices[0].amount)
        self.choice = choices[0]  # funds arrived between the two reads
        return self.choice

    # ------------------------------------------------------------- 5. reserve+sign
    def reserve_and_sign(self) -> None:
        """One transaction: the spend lock and the caps, signing, the write-ahead row.

        A payment is signed only under the agent's spend lock and committed with its
        signed bytes before anything is sent; if anything fails before the commit,
        nothing was reserved and nothing can have been sent. An earlier unsettled
        payment for the same URL is settled from the chain first (never by paying again).
        """
        assert self.info is not None and self.choice is not None
        blockhash, self.last_valid = self._latest_blockhash()  # never waited for under the lock
        for settled_first in (False, True):
            ref = self._ref_for(uuid.uuid4())
            try:
                with self.agent.transaction() as conn:
                    payments.reserve(conn, ref, self._terms(), endpoint=self.endpoint, url=self.url)
                    crash.point("after_reserve")
                    signed = self._sign(blockhash, ref.payment_id)
                    crash.point("after_sign")
                    payments.write_ahead(
                        conn,
                        ref,
                        self._signed_bytes(signed),
                        self._unrecorded_402,  # the 402 is stored with the payment
                    )
            except spend.CapExceeded as exc:
                raise PolicyDenied(str(exc)) from None
            except spend.Unsettled:
                if settled_first:
                    break
                self.agent.resolve_unsettled(self.url)  # raises while one is undecided
                continue
            self._unrecorded_402 = None
            self.payment_id, self.signed = ref.payment_id, signed
            crash.point("after_write_ahead")
            return
        raise SettlementPending(
            f"an earlier payment for {self.url} is not settled yet: "
            "no second payment before it is proven dead",
            retryable=False,
        )

    def _sign(self, blockhash: str, payment_id: uuid.UUID) -> SignedPayment:
        assert self.info is not None and self.choice is not None
        try:
            return self.agent.signer.sign(
                self.info, self.choice.offer, blockhash, f"pay_{payment_id.hex}"
            )
        except AgentError:
            raise
        except Exception as exc:  # the SDK failed to build it: nothing was signed
            raise rpc_failure(exc) or AgentError(
                f"cannot build the payment: {exc}", category="INVALID_402"
            ) from exc

    def _terms(self) -> payments.Terms:
        assert self.info is not None and self.choice is not None
        offer = self.choice.offer
        return payments.Terms(
            agent_id=self.agent.agent_id,
            amount=self.choice.amount,
            currency=self.choice.asset,
            amount_atomic=offer.amount_atomic,
            asset_mint=offer.asset,
            pay_to=offer.pay_to,
            network=offer.network,
            facilitator_url=self.agent.settings.facilitator_url,
            x402_version=self.info.version,
        )

    def _signed_bytes(self, signed: SignedPayment) -> payments.SignedBytes:
        assert self.last_valid is not None
        return payments.SignedBytes(
            payer_signature=signed.payer_signature,
            memo=signed.memo,
            signed_transaction=signed.transaction_b64,
            last_valid_block_height=self.last_valid,
            payment_identifier=signed.payment_identifier,
        )

    def _latest_blockhash(self) -> tuple[str, int]:
        prefetched, self._blockhash = self._blockhash, None
        if prefetched is not None:
            return prefetched.result()
        return self.agent.rpc(lambda c: c.latest_blockhash())

    @property
    def _ref(self) -> payments.PaymentRef:
        assert self.payment_id is not None
        return self._ref_for(self.payment_id)

    def _ref_for(self, payment_id: uuid.UUID) -> payments.PaymentRef:
        return payments.PaymentRef(payment_id, self._rid, self.agent.actor)

    # ----------------------------------------------------------------- 6. deliver
    def deliver(self) -> FetchResult:
        """Send the signed payment and settle what came of it; the balance row follows."""
        try:
            return self._deliver()
        finally:
            assert self.choice is not None
            self.agent.guard.after_payment(self.choice.asset)

    def _deliver(self) -> FetchResult:
        assert self.signed is not None and self.payment_id is not None
        headers = {self.signed.header_name: self.signed.header_value}

        def send() -> Answer:
            answer = self.agent.guarded_get(self.seller, self.url, headers, paid=True)
            if answer.status == 409:  # the seller is still settling this very payment
                raise SettlementPending(f"seller is settling this payment: {answer.body[:200]!r}")
            return answer

        try:
            answer = self._with_retries(send, still_valid=self._blockhash_valid)
        except AgentError as exc:
            return self._undelivered(exc)
        crash.point("after_send")
        if answer.status == 402:
            return self._refused(answer)
        if not 200 <= answer.status < 300:
            return self._undelivered(AgentError(f"paid request answered {answer.status}"))
        receipt = gateway.parse_settlement(answer.headers) or {}
        crash.point("after_200")
        tx_hash = str(receipt.get("transaction") or "") or self.agent.find_on_chain(self.payment_id)
        if not tx_hash:
            return self._undelivered(SettlementPending("200 without a settlement receipt"))
        # The chain is read while the data and the receipt are written.
        check = self.agent.in_background(lambda: self._check(tx_hash))
        self._record_delivery(answer, tx_hash, receipt)
        verified, mismatch = check.result()
        if verified is not None:
            with self.agent.write() as conn:
                payments.mark_verified(
                    conn,
                    self._ref,
                    metadata=verified.metadata,
                    level=ConfirmationStatus.CONFIRMED,
                    fee_lamports=verified.fee_lamports,
                )
        if mismatch is not None:
            settle.reject(self.agent, self.payment_id, mismatch, tx_hash)
        crash.point("after_verify")
        return self._delivered(answer, tx_hash)

    def _record_delivery(self, answer: Answer, tx_hash: str, receipt: dict[str, Any]) -> None:
        delivery = payments.Delivery(
            answer.json_or_text(), answer.status, answer.headers, answer.elapsed_ms
        )
        with self.agent.write() as conn:
            payments.mark_confirmed(
                conn, self._ref, payment_hash=tx_hash, receipt=receipt, delivery=delivery
            )

    def _check(self, tx_hash: str) -> tuple[Verified | None, SignatureInvalid | None]:
        """Independent verification of the transfer (read while the delivery is written)."""
        assert self.signed is not None and self.choice is not None
        offer = self.choice.offer
        expected = Expected(
            self.agent.address,
            self.signed.payer_signature,
            offer.asset,
            offer.pay_to,
            offer.amount_atomic,
        )
        try:
            return settle.check_on_chain(self.agent, expected, tx_hash), None
        except SignatureInvalid as exc:
            return None, exc
        except AgentError:
            return None, None  # RPC trouble: reconciliation verifies later

    def _delivered(self, answer: Answer, tx_hash: str) -> FetchResult:
        assert self.choice is not None
        return FetchResult(
            self._rid,
            "ACCESSED",
            data=answer.json_or_text(),
            payment_id=self.payment_id,
            payment_hash=tx_hash,
            amount=self.choice.amount,
            asset=self.choice.asset,
            http_status=answer.status,
            latency_ms=answer.elapsed_ms,
        )

    def _refused(self, answer: Answer) -> FetchResult:
        reason = gateway.failure_reason(answer.headers, answer.body)
        err: AgentError = FacilitatorRejected(
            f"payment refused by the seller: {reason or 'no reason given'}", x402_reason=reason
        )
        if reason and any(h in reason.lower() for h in DUPLICATE_HINTS):
            err = DuplicatePayment(f"seller saw this payment already: {reason}", x402_reason=reason)
        else:
            assert self.choice is not None
            refusal = diagnosis.Refusal(
                self.choice.offer,
                self.choice.asset,
                self.choice.amount,
                self.last_valid,
                reason,
                answer,
            )
            err = diagnosis.explain(self.agent, refusal) or err
        return self._undelivered(err, http_status=402)

    def _undelivered(self, exc: AgentError, http_status: int | None = None) -> FetchResult:
        """No data: settle the payment's fate from the chain, never by paying again."""
        assert self.payment_id is not None
        state = self.agent.settle_from_chain(self.payment_id)
        details = {"payment_state": state}
        if exc.cause:
            details["cause"] = exc.cause
        requests_log.fail(
            self.agent.session(),
            self._rid,
            exc.category,
            str(exc),
            retryable=exc.retryable,
            x402_reason=getattr(exc, "x402_reason", None),
            http_status=http_status,
            payment_id=self.payment_id,
            details=details,
            actor=self.agent.actor,
        )
        return self.agent.result_for(self._rid, error=str(exc), category=exc.category)

    # ------------------------------------------------------------------- helpers
    @property
    def _rid(self) -> uuid.UUID:
        assert self.request_id is not None
        return self.request_id

    def _blockhash_valid(self) -> bool:
        if self.last_valid is None:
            return True
        try:
            return self.agent.rpc(lambda c: c.block_height()) <= self.last_valid
        except AgentError:
            return True  # cannot tell: resending the same bytes is safe either way

    def _with_retries(self, fn: Any, still_valid: Any = None) -> Answer:
        def on_retry(number: int, delay: float, ok: bool, detail: str | None) -> None:
            requests_log.record_attempt(
                self.agent.session(), self._rid, number, delay, ok, detail, self.payment_id
            )

        result: Answer = retry.run(
            fn, on_retry, base=self.agent.retry_base, should_continue=still_valid or (lambda: True)
        )
        return result


def payment_is_live(status: PaymentStatus) -> bool:
    return status in (PaymentStatus.SIGNED, PaymentStatus.CONFIRMED, PaymentStatus.VERIFIED)
