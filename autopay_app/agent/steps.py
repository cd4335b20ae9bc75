"""The steps of one paid request (DESIGN.md "One paid request, as data").

Each step is a function of the agent's context and the previous step's result,
a frozen dataclass of :mod:`autopay_app.agent.states`;
:mod:`autopay_app.agent.pipeline` strings them together::

    open_request   FetchRequest -> Opened     ApiRequest PENDING (written beside the GET)
    ask            Opened  -> Quoted          GET; the 402 parsed (a free answer ends here)
    decide         Quoted  -> Decided         policy chooses an offer; the balance covers it
    reserve_sign_write_ahead
                   Decided -> Signed          signed (the agent's key); one statement
                                              under the spend lock: payment SIGNED,
                                              request PAID (one durable commit)
    deliver        Signed  -> Delivered       the same bytes sent (retried while valid);
                                              CONFIRMED / ACCESSED with data and receipt
                                              (a durable commit)
    verify         Delivered -> FetchResult   the data returned; the transfer as read
                                              on chain written after it (VERIFIED), on
                                              the agent's I/O pool

Nothing is sent before the write-ahead commits, and nothing is returned before
the delivery commits. The PENDING row and the blockhash are written and read
during the first GET; the transfer is read from the chain, and its VERIFIED
written, on the agent's I/O pool after the delivery commits and the data is
returned (:func:`record_verification`): a payment counts
as done only once VERIFIED, ``Agent.wait_verified`` waits for it, closing the
agent drains it, and a crash in between leaves a CONFIRMED payment that
reconciliation verifies from the chain. A step raises a classified
:class:`~autopay_app.agent.errors.AgentError`; the pipeline records it.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future
from urllib.parse import urlsplit

from autopay_app.agent import blockhash as recent_blockhash
from autopay_app.agent import crash, diagnosis, gateway, guard, io, mcp_target, settle
from autopay_app.agent.chain import rpc_failure
from autopay_app.agent.context import AgentContext, policy
from autopay_app.agent.errors import (
    AgentError,
    DuplicatePayment,
    FacilitatorRejected,
    PolicyDenied,
    SettlementPending,
    SignatureInvalid,
)
from autopay_app.agent.gateway import SignedPayment
from autopay_app.agent.http import Answer
from autopay_app.agent.policy import Context, rank
from autopay_app.agent.result import FetchResult, recorded
from autopay_app.agent.states import (
    Check,
    Decided,
    Delivered,
    FetchRequest,
    Opened,
    Quoted,
    Signed,
)
from autopay_app.agent.verify import Expected, Verified
from autopay_app.ledger import direct, payments, requests_log, spend
from autopay_app.models import ApiType, ConfirmationStatus

DUPLICATE_HINTS = ("duplicate", "already", "replay")
DEFERRED = "the transfer could not be read back from the chain; reconciliation verifies it"

log = logging.getLogger(__name__)


def api_type_for(path: str) -> ApiType:
    return ApiType.KNOWLEDGE_DATA if "/knowledge" in path else ApiType.MARKET_DATA


# ------------------------------------------------------------------- 1. open
def open_request(ctx: AgentContext, request: FetchRequest) -> Opened:
    """Write the PENDING request (one statement) beside the first GET: the row is written
    on the agent's I/O pool and waited for (:meth:`Opened.ensure_written`) before the
    answer is recorded, a retry is recorded, or anything is paid. The GET is unpaid, so
    nothing is ever paid before the request is in the ledger."""
    request_id = request.request_id or uuid.uuid4()
    written = io.in_background(ctx, lambda: _write_pending(ctx, request, request_id))
    return Opened(request, request_id, written)


def _write_pending(ctx: AgentContext, request: FetchRequest, request_id: uuid.UUID) -> None:
    parts = urlsplit(request.url)
    payload: dict[str, object] = {"method": "GET", "url": request.url, "query": parts.query}
    call = requests_log.ToolCall(reason=request.reason)
    target = _tool_call(request.url)
    if target is not None:  # a paid MCP tool call: the tool and its arguments
        payload = {"method": "tools/call", "tool": target.tool, "arguments": target.arguments}
        call = requests_log.ToolCall(target.tool, target.arguments_hash, request.reason)
    with direct.autocommit(ctx.engine) as conn:
        requests_log.open_request(
            conn,
            ctx.actor,
            ctx.agent_id,
            request.url,
            request.endpoint,
            api_type_for(request.endpoint),
            payload,
            call,
            request_id=request_id,
        )


def _tool_call(url: str) -> mcp_target.McpTarget | None:
    """The MCP tool call ``url`` names (None for HTTP, or a bad one: asking fails it)."""
    try:
        return mcp_target.parse(url) if mcp_target.is_mcp(url) else None
    except PolicyDenied:
        return None


# -------------------------------------------------------------------- 2. ask
def ask(ctx: AgentContext, opened: Opened) -> Quoted | FetchResult:
    """GET the resource: a 402 is parsed; a free answer is recorded and ends the request.

    The blockhash a payment would need is read meanwhile (the agent buys paid
    resources: a free one costs one wasted read), unless the one read for an earlier
    payment is still surely valid (:mod:`~autopay_app.agent.blockhash`).
    """
    url = opened.request.url
    blockhash = recent_blockhash.prefetch(ctx)
    try:
        answer = io.with_retries(
            ctx, opened.request_id, lambda: io.seller_get(ctx, url), before=opened.ensure_written
        )
    finally:
        opened.ensure_written()  # the PENDING row is in before anything refers to it
    if answer.status == 402:
        info = gateway.parse_payment_required(answer.headers, answer.body)
        return Quoted(opened, info, answer.headers, blockhash=blockhash)
    if 200 <= answer.status < 300:
        requests_log.record_free_access(
            ctx.session(),
            opened.request_id,
            answer.json_or_text(),
            answer.status,
            answer.headers,
            answer.elapsed_ms,
            actor=ctx.actor,
        )
        return recorded(ctx, opened.request_id)
    raise unexpected_answer(url, answer)


def unexpected_answer(url: str, answer: Answer) -> AgentError:
    """A seller's answer that is neither data nor a 402. A paid MCP tool's error has no
    status of its own (its "400"): its first line says why ("Unknown tool: ...")."""
    said = ""
    if mcp_target.is_mcp(url):
        lines = answer.body[:400].decode("utf-8", "replace").strip().splitlines()
        said = f": {lines[0][:200]!r}" if lines else ""
    return AgentError(f"{url} answered {answer.status}{said}", category="UNKNOWN")


def record_402(ctx: AgentContext, quoted: Quoted) -> None:
    """Store the 402's instructions and headers (PAYMENT_REQUIRED) unless they are stored."""
    if quoted.recorded:
        return
    with direct.autocommit(ctx.engine) as conn:
        requests_log.record_402(
            conn, ctx.actor, quoted.opened.request_id, quoted.info.document, quoted.headers
        )


# ----------------------------------------------------------------- 3. decide
def decide(ctx: AgentContext, quoted: Quoted) -> Decided:
    """The first offer the policy allows and the balance covers (read fresh if needed).

    Raises:
        PolicyDenied: No offer is allowed; the message gives each one's reason.
        InsufficientFunds: No allowed offer is covered (LOW_BALANCE, payments paused).
    """
    request = quoted.opened.request
    hosts, recipients = _premium_defaults(ctx, {o.pay_to for o in quoted.info.offers})
    situation = Context(
        agent_address=ctx.address,
        host=request.host,
        mints=ctx.mints,
        max_amount=request.max_amount,
        asset=request.asset,
        catalog_price=ctx.catalog.prices(request.url),
        default_hosts=hosts,
        default_recipients=recipients,
    )
    choices = rank(quoted.info.offers, policy(ctx), situation)
    for choice in choices:
        if guard.has_funds(ctx, choice.asset, choice.amount):
            return Decided(quoted, choice)
    guard.ensure_funds(ctx, choices[0].asset, choices[0].amount)
    return Decided(quoted, choices[0])  # funds arrived between the two reads


def _premium_defaults(ctx: AgentContext, pay_to: set[str]) -> tuple[frozenset[str], frozenset[str]]:
    """What the policy allows besides its lists: the premium API's host and the recipients
    its catalog names (read only when one of ``pay_to`` is not listed already)."""
    base = ctx.settings.premium_api_url.rstrip("/")
    listed = set(policy(ctx).allowed_recipients)
    named = frozenset() if "*" in listed or pay_to <= listed else ctx.catalog.recipients(base)
    return frozenset({urlsplit(base).netloc}), named


# ----------------------------------------------------- 4. reserve+sign+write-ahead
def reserve_sign_write_ahead(ctx: AgentContext, decided: Decided) -> Signed:
    """Signed, reserved under the spend lock and written ahead; only after the request's
    PAID commit (durable) can anything be sent.

    The agent's own key signs first; one statement then takes the spend lock, checks
    the caps, writes the payment SIGNED with its bytes and the request PAID, and
    commits durably (:func:`~autopay_app.ledger.payments.write_ahead`; the lock is
    held for that statement only). A person's wallet
    is asked only once the caps allowed the payment: INITIATED, signed, SIGNED in one
    transaction under the lock.

    An earlier unsettled payment for the same URL is settled from the chain first,
    never by paying again.

    Raises:
        PolicyDenied: A spend cap would be exceeded.
        SettlementPending: An earlier payment for the URL may still land.
    """
    quoted, request = decided.quoted, decided.opened.request
    blockhash, last_valid = _blockhash(ctx, decided)  # never waited for under the lock
    x402 = None if quoted.recorded else (quoted.info.document, quoted.headers)
    for settled_first in (False, True):
        payment_id = decided.external.payment_id if decided.external else uuid.uuid4()
        ref = payments.PaymentRef(payment_id, decided.opened.request_id, ctx.actor)
        terms = _terms(ctx, decided)
        try:
            if decided.external:
                with direct.transaction(ctx.engine) as conn:
                    payments.reserve(
                        conn, ref, terms, endpoint=request.endpoint, url=request.url, flush=False
                    )
                    crash.point("after_reserve")
                    signed = _sign(ctx, decided, blockhash, ref.payment_id)
                    crash.point("after_sign")
                    bytes_ = _signed_bytes(signed, last_valid, decided.payer)
                    payments.sign_ahead(conn, ref, bytes_)
                with direct.autocommit(ctx.engine) as conn:
                    payments.mark_paid(conn, ref, x402)
            else:
                # Unsent bytes of a refused reservation are simply dropped.
                signed = _sign(ctx, decided, blockhash, ref.payment_id)
                crash.point("after_sign")
                with direct.autocommit(ctx.engine) as conn:
                    payments.write_ahead(
                        conn,
                        ref,
                        terms,
                        _signed_bytes(signed, last_valid, decided.payer),
                        endpoint=request.endpoint,
                        url=request.url,
                        x402=x402,
                    )
                crash.point("after_reserve")
        except spend.CapExceeded as exc:
            raise PolicyDenied(str(exc)) from None
        except spend.Unsettled:
            if settled_first:
                break
            settle.resolve_unsettled(ctx, request.url)  # raises while one is undecided
            continue
        crash.point("after_write_ahead")
        return Signed(decided, ref, signed, last_valid)
    raise SettlementPending(
        f"an earlier payment for {request.url} is not settled yet: "
        "no second payment before it is proven dead",
        retryable=False,
    )


def _blockhash(ctx: AgentContext, decided: Decided) -> tuple[str, int]:
    """The one a person's wallet signed with, or the agent's recent one (read during the
    GET, or reused: :mod:`~autopay_app.agent.blockhash`)."""
    prefetched = decided.quoted.blockhash
    if decided.external is not None and prefetched is not None:
        return prefetched.result()
    return recent_blockhash.for_offer(ctx, decided.choice.offer, prefetched)


def _terms(ctx: AgentContext, decided: Decided) -> payments.Terms:
    offer = decided.choice.offer
    return payments.Terms(
        agent_id=ctx.agent_id,
        amount=decided.choice.amount,
        currency=decided.choice.asset,
        amount_atomic=offer.amount_atomic,
        asset_mint=offer.asset,
        pay_to=offer.pay_to,
        network=offer.network,
        facilitator_url=ctx.settings.facilitator_url,
        x402_version=decided.quoted.info.version,
    )


def _sign(
    ctx: AgentContext, decided: Decided, blockhash: str, payment_id: uuid.UUID
) -> SignedPayment:
    signer = decided.external or ctx.signer  # a person's wallet, or the agent's key
    try:
        return signer.sign(  # type: ignore[no-any-return]
            decided.quoted.info, decided.choice.offer, blockhash, f"pay_{payment_id.hex}"
        )
    except AgentError:
        raise
    except Exception as exc:  # the SDK failed to build it: nothing was signed
        raise rpc_failure(exc) or AgentError(
            f"cannot build the payment: {exc}", category="INVALID_402"
        ) from exc


def _signed_bytes(
    signed: SignedPayment, last_valid: int, payer: str | None = None
) -> payments.SignedBytes:
    return payments.SignedBytes(
        payer_signature=signed.payer_signature,
        memo=signed.memo,
        signed_transaction=signed.transaction_b64,
        last_valid_block_height=last_valid,
        payment_identifier=signed.payment_identifier,
        payer_address=payer,
    )


# ---------------------------------------------------------------- 5. deliver
def deliver(ctx: AgentContext, signed: Signed) -> Delivered:
    """Send the signed bytes (the same bytes on every retry, while their blockhash is
    valid); on 200 write the data and the receipt (CONFIRMED, ACCESSED) while the
    transfer is read from the chain. The balance row follows, in the background.

    Raises:
        AgentError: No data (refused, failed, or no proof of settlement); the pipeline
            settles the payment's fate from the chain, never by paying again.
    """
    delivered = None
    try:
        delivered = _deliver(ctx, signed)
        return delivered
    finally:
        # The balance after the payment comes with its verification read (the agent's own
        # key paid: a person's wallet is not the agent's balance).
        own = signed.decided.payer is None
        check = delivered.check if delivered is not None and own else None
        guard.after_payment(ctx, signed.decided.choice.asset, check)


def _deliver(ctx: AgentContext, signed: Signed) -> Delivered:
    url = signed.opened.request.url
    headers = {signed.payment.header_name: signed.payment.header_value}

    def send() -> Answer:
        answer = io.seller_get(ctx, url, headers, paid=True)
        if answer.status == 409:  # the seller is still settling this very payment
            raise SettlementPending(f"seller is settling this payment: {answer.body[:200]!r}")
        return answer

    answer = io.with_retries(
        ctx,
        signed.opened.request_id,
        send,
        payment_id=signed.payment_id,
        still_valid=lambda: _blockhash_valid(ctx, signed.last_valid),
    )
    crash.point("after_send")
    if answer.status == 402:
        raise _refusal(ctx, signed, answer)
    if not 200 <= answer.status < 300:
        raise AgentError(f"paid request answered {answer.status}")
    receipt = gateway.parse_settlement(answer.headers) or {}
    crash.point("after_200")
    tx_hash = str(receipt.get("transaction") or "") or settle.find(ctx, signed.payment_id)
    if not tx_hash:
        raise SettlementPending("200 without a settlement receipt")
    # The delivery is a durable commit (nothing is returned that the ledger could lose);
    # the transfer is read from the chain after it, off the path (VERIFIED follows): on the
    # path, that read would only compete with the commit for the CPU.
    data = answer.json_or_text()
    delivery = payments.Delivery(data, answer.status, answer.headers, answer.elapsed_ms)
    with direct.autocommit(ctx.engine) as conn:
        payments.mark_confirmed(
            conn, signed.ref, payment_hash=tx_hash, receipt=receipt, delivery=delivery
        )
    check = io.in_background(ctx, lambda: _check_transfer(ctx, signed, tx_hash))
    return Delivered(signed, answer, data, tx_hash, check)


def _mark_verified(conn: direct.Connection, ref: payments.PaymentRef, v: Verified) -> None:
    payments.mark_verified(
        conn,
        ref,
        metadata=v.metadata,
        level=ConfirmationStatus.CONFIRMED,
        fee_lamports=v.fee_lamports,
    )


def _blockhash_valid(ctx: AgentContext, last_valid: int) -> bool:
    try:
        return io.rpc(ctx, lambda c: c.block_height()) <= last_valid
    except AgentError:
        return True  # cannot tell: resending the same bytes is safe either way


def _refusal(ctx: AgentContext, signed: Signed, answer: Answer) -> AgentError:
    """The seller answered the payment with a 402: a duplicate, or the cause the agent
    proves with its own chain reads (:mod:`~autopay_app.agent.diagnosis`), or the
    seller's reason as given."""
    recent_blockhash.forget(ctx)  # it may be the cause: the next payment reads a new one
    reason = gateway.failure_reason(answer.headers, answer.body)
    error: AgentError = FacilitatorRejected(
        f"payment refused by the seller: {reason or 'no reason given'}", x402_reason=reason
    )
    if reason and any(hint in reason.lower() for hint in DUPLICATE_HINTS):
        error = DuplicatePayment(f"seller saw this payment already: {reason}", x402_reason=reason)
    else:
        choice = signed.decided.choice
        refusal = diagnosis.Refusal(
            choice.offer,
            choice.asset,
            choice.amount,
            signed.last_valid,
            reason,
            answer,
            signed.decided.payer,
        )
        error = diagnosis.explain(ctx, refusal) or error
    error.http_status = 402
    return error


def _check_transfer(ctx: AgentContext, signed: Signed, tx_hash: str) -> Check:
    """Independent verification of the transfer (read while the delivery is written)."""
    offer = signed.decided.choice.offer
    payer = signed.decided.payer or ctx.address
    expected = Expected(
        payer,
        signed.payment.payer_signature,
        offer.asset,
        offer.pay_to,
        offer.amount_atomic,
        signed.payment.transaction_b64,  # the landed message must be the one signed
    )
    try:
        return settle.check_on_chain(ctx, expected, tx_hash), None
    except SignatureInvalid as exc:
        return None, exc
    except AgentError:
        return None, None  # RPC trouble: reconciliation verifies later


# ----------------------------------------------------------------- 6. verify
def verify(ctx: AgentContext, delivered: Delivered) -> FetchResult:
    """The data, returned while the transfer's chain read is written on the agent's I/O
    pool (:func:`record_verification`; ``Agent.wait_verified`` waits for it)."""
    verification: Future[None] | None = None
    try:
        verification = io.in_background(ctx, lambda: record_verification(ctx, delivered))
        ctx.verifications.track(verification)
    except RuntimeError:  # the agent is closing: its pool takes no more work
        record_verification(ctx, delivered)
    ref = delivered.signed.ref
    choice, answer = delivered.signed.decided.choice, delivered.answer
    return FetchResult(
        delivered.opened.request_id,
        "ACCESSED",
        data=delivered.data,
        payment_id=ref.payment_id,
        payment_hash=delivered.tx_hash,
        amount=choice.amount,
        asset=choice.asset,
        http_status=answer.status,
        latency_ms=answer.elapsed_ms,
        verification=verification,
    )


def record_verification(ctx: AgentContext, delivered: Delivered) -> None:
    """VERIFIED with its transaction log when the chain shows exactly the signed transfer;
    FAILED (SIGNATURE_INVALID) when it shows something else; a NETWORK_ISSUE event when
    the chain could not be read. The data arrived either way.

    Never raises: the delivery is written already, and a failure here leaves the payment
    CONFIRMED, which reconciliation verifies from the chain (as after a crash).
    """
    ref = delivered.signed.ref
    try:
        verified, mismatch = delivered.check.result()
        crash.point("before_verify")
        if verified is not None:
            with direct.autocommit(ctx.engine) as conn:
                _mark_verified(conn, ref, verified)
        elif mismatch is not None:
            settle.reject(ctx, ref.payment_id, mismatch, delivered.tx_hash)
        else:
            with direct.autocommit(ctx.engine) as conn:
                payments.verification_deferred(conn, ref, DEFERRED)
        crash.point("after_verify")
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("verifying payment %s failed: %s", ref.payment_id, exc)
