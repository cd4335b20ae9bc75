"""Why a seller refused a payment, established by the agent's own chain reads.

A seller that refuses a signed payment answers 402 again, with an x402 reason
that may be specific or only the facilitator's generic
``transaction_simulation_failed``. The agent does not take either on trust: it
reads the chain itself and names the first cause it can prove, in this order:

1. the recipient has no token account for the mint (the seller must create it);
2. the agent holds less of the asset than the amount (classified
   ``INSUFFICIENT_FUNDS``);
3. the payment's blockhash expired before the seller settled it;
4. the seller's new 402 asks another amount, or another recipient, than the
   agent signed for.

The error carries the x402 code of that cause (``x402_reason``) and its name
(``cause``); the seller's own reason stays in the message. When nothing is
proven (or the RPC cannot say), the seller's reason stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from autopay_app.agent import gateway, io
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import AgentError, FacilitatorRejected, InsufficientFunds
from autopay_app.agent.gateway import Offer
from autopay_app.agent.http import Answer

RECEIVER_ATA_NOT_FOUND = "invalid_exact_svm_payload_transaction_receiver_ata_not_found"
INSUFFICIENT_FUNDS = "insufficient_funds"
BLOCKHASH_EXPIRED = "invalid_exact_svm_payload_blockhash_expired"
AMOUNT_MISMATCH = "invalid_exact_svm_payload_transaction_amount_mismatch"
RECIPIENT_MISMATCH = "invalid_exact_svm_payload_recipient_mismatch"


@dataclass(frozen=True)
class Refusal:
    """A refused payment: what was signed, and the seller's answer to it."""

    offer: Offer
    asset: str
    amount: Decimal
    last_valid_block_height: int | None
    seller_reason: str | None
    answer: Answer
    #: The wallet that signed, when it is not the agent's key (a person paid).
    payer: str | None = None


def explain(ctx: AgentContext, refusal: Refusal) -> AgentError | None:
    """The refusal's proven cause as a classified error, or None when none is proven."""
    checks = (_recipient_account, _balance, _blockhash, _quote)
    try:
        for check in checks:
            found = check(ctx, refusal)
            if found is not None:
                return found
    except AgentError:
        return None  # the RPC cannot say: the seller's reason stands
    return None


def _error(
    kind: type[AgentError], cause: str, code: str, text: str, refusal: Refusal
) -> AgentError:
    said = refusal.seller_reason or "no reason given"
    return kind(f"payment refused by the seller ({said}): {text}", x402_reason=code, cause=cause)


def _recipient_account(ctx: AgentContext, refusal: Refusal) -> AgentError | None:
    offer = refusal.offer
    program = io.rpc(ctx, lambda c: c.account_owner(offer.asset))
    if program is None:
        return None
    ata = str(
        get_associated_token_address(
            Pubkey.from_string(offer.pay_to),
            Pubkey.from_string(offer.asset),
            Pubkey.from_string(program),
        )
    )
    if io.rpc(ctx, lambda c: c.account_owner(ata)) is not None:
        return None
    text = (
        f"the recipient {offer.pay_to} has no {refusal.asset} token account "
        f"({ata} does not exist for mint {offer.asset}); the seller must create it. "
        "Nothing was transferred."
    )
    return _error(
        FacilitatorRejected, "RECIPIENT_ACCOUNT_MISSING", RECEIVER_ATA_NOT_FOUND, text, refusal
    )


def _balance(ctx: AgentContext, refusal: Refusal) -> AgentError | None:
    payer = refusal.payer or ctx.address
    held = io.rpc(ctx, lambda c: c.token_balance(payer, refusal.asset))
    if held >= refusal.amount:
        return None
    who = "the wallet" if refusal.payer else "the agent"
    text = (
        f"{who} holds {held} {refusal.asset}, below the amount {refusal.amount}: "
        f"top up {payer} (autopay fund --{refusal.asset.lower()} ...)"
    )
    return _error(InsufficientFunds, "INSUFFICIENT_FUNDS", INSUFFICIENT_FUNDS, text, refusal)


def _blockhash(ctx: AgentContext, refusal: Refusal) -> AgentError | None:
    last_valid = refusal.last_valid_block_height
    if last_valid is None:
        return None
    height = io.rpc(ctx, lambda c: c.block_height())
    if height <= last_valid:
        return None
    text = (
        f"the payment's blockhash expired (block height {height} > last valid {last_valid}) "
        "before the seller settled it; it can never land"
    )
    return _error(FacilitatorRejected, "BLOCKHASH_EXPIRED", BLOCKHASH_EXPIRED, text, refusal)


def _quote(ctx: AgentContext, refusal: Refusal) -> AgentError | None:
    try:
        info = gateway.parse_payment_required(refusal.answer.headers, refusal.answer.body)
    except AgentError:
        return None
    signed = refusal.offer
    same = [o for o in info.offers if o.asset == signed.asset and o.network == signed.network]
    if not same or any(
        o.amount_atomic == signed.amount_atomic and o.pay_to == signed.pay_to for o in same
    ):
        return None
    now = same[0]
    if now.amount_atomic != signed.amount_atomic:
        text = (
            f"the seller now asks {now.amount_atomic} atomic units of {refusal.asset}; "
            f"the agent signed {signed.amount_atomic}"
        )
        return _error(FacilitatorRejected, "AMOUNT_MISMATCH", AMOUNT_MISMATCH, text, refusal)
    text = f"the seller now asks to be paid at {now.pay_to}; the agent paid {signed.pay_to}"
    return _error(FacilitatorRejected, "RECIPIENT_MISMATCH", RECIPIENT_MISMATCH, text, refusal)
