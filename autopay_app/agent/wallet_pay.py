"""Phase 2, paid by the person's wallet: the agent's pipeline with an external signer.

:func:`prepare` runs before the wallet is asked anything: the approval must be
waiting, the approved offer must pass the agent's policy (network, asset,
fee payer, host, recipient, per-request cap, quote drift against the catalog)
with the wallet as the payer, the agent's spend windows must have room, and the
wallet must hold the amount. Then the x402 SDK's own client scheme builds the
payment with the wallet as token authority (:func:`gateway.build_for_wallet`):
the same instructions, the facilitator as fee payer, a memo nonce.

:func:`submit` takes the wallet's partially signed transaction, checks it is
the one built (:func:`external.accept`), wraps it into the SDK's payment header
and resumes the pipeline from the approval (:func:`pipeline.resume`) with a
:class:`WalletSigner`: reserve under the spend lock, write ahead (with the
payer's address), pay the seller, verify the transfer from the wallet on chain.

:func:`refuse`: the wallet refused, timed out or disconnected: the request
FAILED as WALLET_REFUSED, nothing signed or paid.
"""

from __future__ import annotations

import base64
import json
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal

from solders.transaction import VersionedTransaction

from autopay_app.agent import external, gateway, io, pipeline
from autopay_app.agent.context import AgentContext, policy
from autopay_app.agent.errors import InsufficientFunds, PolicyDenied, SignatureInvalid
from autopay_app.agent.gateway import Offer, PaymentRequiredInfo, SignedPayment
from autopay_app.agent.policy import Context, rank, to_tokens
from autopay_app.agent.result import FetchResult
from autopay_app.agent.states import FetchRequest
from autopay_app.agent.steps import _premium_defaults
from autopay_app.ledger import approvals, requests_log, spend
from autopay_app.models import ErrorCategory

KIND = "x402-payment"
#: Why a wallet did not sign, as the browser reports it.
REFUSALS = {
    "rejected": "the person refused to sign in the wallet",
    "timeout": "the wallet did not answer in time",
    "disconnected": "the wallet disconnected before signing",
    "error": "the wallet could not sign",
}


@dataclass(frozen=True)
class WalletSigner:
    """The pipeline's signer for a payment the person's wallet signed already."""

    address: str
    payment_id: uuid.UUID
    offer_index: int
    signed: SignedPayment
    blockhash: Future[tuple[str, int]]

    def sign(
        self, info: PaymentRequiredInfo, offer: Offer, blockhash: str, payment_id: str | None
    ) -> SignedPayment:
        if blockhash != self.signed.blockhash or offer.index != self.offer_index:
            raise SignatureInvalid("the wallet signed another payment than the one approved")
        return self.signed


def _waiting(ctx: AgentContext, request_id: uuid.UUID) -> approvals.Stored:
    stored = approvals.peek(ctx.session(), request_id)
    if stored is None or stored.instructions is None:
        raise PolicyDenied(f"no approval is waiting for request {request_id}")
    return stored


def _check(ctx: AgentContext, url: str, offer: Offer, payer: str) -> Decimal:
    """The agent's policy and spend windows, with the wallet as the payer; the amount."""
    request = FetchRequest(url)
    hosts, recipients = _premium_defaults(ctx, {offer.pay_to})
    situation = Context(
        agent_address=payer,
        host=request.host,
        mints=ctx.mints,
        catalog_price=ctx.catalog.prices(url),
        default_hosts=hosts,
        default_recipients=recipients,
    )
    rules = policy(ctx)
    choice = rank([offer], rules, situation)[0]
    with ctx.session() as session:
        hour, day = spend.windows(session, ctx.agent_id)
    if hour + choice.amount > rules.hourly_cap or day + choice.amount > rules.daily_cap:
        raise PolicyDenied(
            f"{choice.amount} {choice.asset} would exceed the agent's spend caps "
            f"(hourly {rules.hourly_cap}, {hour} spent; daily {rules.daily_cap}, {day} spent)"
        )
    return choice.amount


def prepare(ctx: AgentContext, request_id: uuid.UUID, payer: str) -> external.Held:
    """The unsigned x402 payment of the approval of ``request_id``, for ``payer`` to sign.

    Raises:
        PolicyDenied: Nothing waits for approval, or the policy or a cap refuses it.
        InsufficientFunds: The wallet holds less than the price.
    """
    stored = _waiting(ctx, request_id)
    info = gateway.parse_payment_required({}, json.dumps(stored.instructions).encode())
    offer = info.offers[stored.offer_index]
    amount = _check(ctx, stored.url, offer, payer)
    held = io.rpc(ctx, lambda c: c.token_balance(payer, stored.currency))
    if held < amount:
        raise InsufficientFunds(f"the wallet {payer} holds {held} {stored.currency}, not {amount}")
    blockhash, last_valid = io.rpc(ctx, lambda c: c.latest_blockhash())
    payment_id = uuid.uuid4()
    built = gateway.build_for_wallet(
        info, offer, blockhash, payer, ctx.settings.solana_rpc_url, f"pay_{payment_id.hex}"
    )
    payload = {**built.payload, "payload": {**built.payload["payload"], "transaction": ""}}
    facts = {
        "request_id": str(request_id),
        "offer_index": offer.index,
        "payment_id": str(payment_id),
        "blockhash": blockhash,
        "last_valid": last_valid,
        "version": built.version,
        "payload": payload,
        "amount": str(to_tokens(offer.amount_atomic)),
        "asset": stored.currency,
    }
    tx = VersionedTransaction.from_bytes(base64.b64decode(built.transaction_b64))
    return external.Held(KIND, payer, tx, facts)


def submit(ctx: AgentContext, held: external.Held, signed_b64: object) -> FetchResult:
    """Pay with the wallet's signed transaction: the pipeline from the approval on.

    Raises:
        PolicyDenied: Not a payment of this agent, or the approval is not waiting any more.
        SignatureInvalid: Not the transaction built, or not signed by the wallet.
    """
    facts = held.facts
    if held.kind != KIND:
        raise PolicyDenied("not a payment transaction")
    signed = external.accept(held, signed_b64)
    request_id, payment_id = uuid.UUID(facts["request_id"]), uuid.UUID(facts["payment_id"])
    built = gateway.WalletPayment(held.unsigned_b64, facts["payload"], int(facts["version"]))
    signed_b64_text = base64.b64encode(bytes(signed)).decode()
    identifier = f"pay_{payment_id.hex}"
    payment = gateway.wrap_signed(built, signed_b64_text, held.payer, identifier)
    blockhash: Future[tuple[str, int]] = Future()
    blockhash.set_result((str(facts["blockhash"]), int(facts["last_valid"])))
    signer = WalletSigner(held.payer, payment_id, int(facts["offer_index"]), payment, blockhash)
    result = pipeline.resume(ctx, request_id, signer)
    result.wait_verified()  # the person sees the payment done (VERIFIED), not only sent
    return result


def refuse(ctx: AgentContext, request_id: uuid.UUID, reason: str, detail: str = "") -> str:
    """The wallet did not sign: the request FAILED (WALLET_REFUSED), nothing paid; returns
    the classification recorded (POLICY_DENIED when the approval had expired meanwhile).

    Raises:
        PolicyDenied: Nothing waits for approval on ``request_id`` (decided already).
    """
    why = REFUSALS.get(reason)
    if why is None:
        raise PolicyDenied(f"reason: one of {', '.join(REFUSALS)}, not {reason[:40]!r}")
    try:
        stored = approvals.close(ctx.session(), request_id, "DECLINED")
    except approvals.Closed as exc:
        raise PolicyDenied(str(exc)) from None
    category, message = ErrorCategory.WALLET_REFUSED.value, f"{why}: nothing was paid"
    if stored.decision == "EXPIRED":
        category, message = ErrorCategory.POLICY_DENIED.value, "approval expired: nothing was paid"
    clean = "".join(ch for ch in detail[:200] if ch.isprintable())
    requests_log.fail(
        ctx.session(),
        request_id,
        category,
        f"{message} ({clean})" if clean else message,
        actor=ctx.actor,
    )
    return category
