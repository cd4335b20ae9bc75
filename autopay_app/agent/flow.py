"""One paid request, as data (DESIGN.md): every step lands in the ledger.

1. ApiRequest PENDING.  2. GET; a 402 is parsed and stored: PAYMENT_REQUIRED.
3. Policy chooses an offer or refuses.  4. Balance guard.  (Phase 2: a person
approves here.)  5. Reserve within the spend caps (Payment INITIATED), sign,
write the signed bytes ahead (SIGNED, request PAID) and only then send.
6. 200: data and receipt stored, CONFIRMED / ACCESSED.  7. The agent reads the
transfer on chain itself: TransactionLog, VERIFIED.  Failures are classified;
retries resend the *same* signed bytes while their blockhash is valid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from autopay_app.agent import crash, gateway, retry, settle
from autopay_app.agent.chain import rpc_failure
from autopay_app.agent.errors import (
    AgentError,
    DuplicatePayment,
    FacilitatorRejected,
    SettlementPending,
    SignatureInvalid,
)
from autopay_app.agent.gateway import PaymentRequiredInfo, SignedPayment
from autopay_app.agent.http import Answer
from autopay_app.agent.policy import Choice, Context, rank
from autopay_app.agent.verify import Expected, Verified
from autopay_app.ledger import payments, requests_log, spend
from autopay_app.models import ApiType, Currency, PaymentStatus

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

    @property
    def seller(self) -> str:
        return f"seller:{self.parts.netloc}"

    def open(self) -> uuid.UUID:
        payload = {"method": "GET", "url": self.url, "query": self.parts.query}
        self.request_id = requests_log.open_request(
            self.agent.session(),
            self.agent.agent_id,
            self.url,
            self.parts.path or "/",
            api_type_for(self.parts.path),
            payload,
        )
        return self.request_id

    # ------------------------------------------------------------------ 2. ask
    def ask(self) -> Answer | None:
        """GET the resource; returns the answer if it was free (no 402)."""
        answer = self._with_retries(lambda: self.agent.guarded_get(self.seller, self.url))
        if answer.status == 402:
            self.info = gateway.parse_payment_required(answer.headers, answer.body)
            requests_log.record_402(
                self.agent.session(), self._rid, self.info.document, answer.headers
            )
            return None
        if 200 <= answer.status < 300:
            return answer
        raise AgentError(f"{self.url} answered {answer.status}", category="UNKNOWN")

    # --------------------------------------------------------------- 3-4. decide
    def decide(self) -> Choice:
        assert self.info is not None
        ctx = Context(
            agent_address=self.agent.address,
            host=self.parts.netloc,
            mints=self.agent.mints,
            max_amount=self.max_amount,
            asset=self.asset,
            catalog_price=self.agent.catalog.prices(self.url),
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
        assert self.info is not None and self.choice is not None
        self.agent.resolve_unsettled(self.url)
        offer = self.choice.offer
        try:
            reservation = spend.reserve(
                self.agent.session(),
                agent_id=self.agent.agent_id,
                request_id=self._rid,
                amount=self.choice.amount,
                currency=Currency(self.choice.asset),
                amount_atomic=offer.amount_atomic,
                asset_mint=offer.asset,
                pay_to=offer.pay_to,
                network=offer.network,
                facilitator_url=self.agent.settings.facilitator_url,
                x402_version=self.info.version,
                endpoint=self.parts.path,
            )
        except spend.CapExceeded as exc:
            from autopay_app.agent.errors import PolicyDenied

            raise PolicyDenied(str(exc)) from None
        self.payment_id = reservation.payment_id
        crash.point("after_reserve")
        try:
            blockhash, self.last_valid = self.agent.rpc(lambda c: c.latest_blockhash())
            self.signed = self.agent.signer.sign(
                self.info, offer, blockhash, f"pay_{self.payment_id.hex}"
            )
        except AgentError as exc:
            self._release(exc)
            raise
        except Exception as exc:  # the SDK failed to build it: nothing was signed
            err = rpc_failure(exc) or AgentError(
                f"cannot build the payment: {exc}", category="INVALID_402"
            )
            self._release(err)
            raise err from exc
        crash.point("after_sign")
        payments.mark_signed(
            self.agent.session(),
            self.payment_id,
            payer_signature=self.signed.payer_signature,
            memo=self.signed.memo,
            signed_transaction=self.signed.transaction_b64,
            last_valid_block_height=self.last_valid,
            payment_identifier=self.signed.payment_identifier,
        )
        crash.point("after_write_ahead")

    def _release(self, exc: AgentError) -> None:
        assert self.payment_id is not None
        payments.mark_failed(self.agent.session(), self.payment_id, exc.category, str(exc))

    # ----------------------------------------------------------------- 6. deliver
    def deliver(self) -> FetchResult:
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
        verified, mismatch = self._check(tx_hash)
        payments.mark_confirmed(
            self.agent.session(),
            self.payment_id,
            payment_hash=tx_hash,
            receipt=receipt,
            data=answer.json_or_text(),
            http_status=answer.status,
            headers=answer.headers,
            latency_ms=answer.elapsed_ms,
            verified=(verified.metadata, verified.fee_lamports) if verified else None,
        )
        if mismatch is not None:
            settle.reject(self.agent, self.payment_id, mismatch, tx_hash)
        crash.point("after_verify")
        return self._delivered(answer, tx_hash)

    def _check(self, tx_hash: str) -> tuple[Verified | None, SignatureInvalid | None]:
        """Independent verification of the transfer, before the result is written."""
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
        return self._undelivered(err, http_status=402)

    def _undelivered(self, exc: AgentError, http_status: int | None = None) -> FetchResult:
        """No data: settle the payment's fate from the chain, never by paying again."""
        assert self.payment_id is not None
        state = self.agent.settle_from_chain(self.payment_id)
        details = {"payment_state": state}
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
