"""Naming why a payment was refused, when the facilitator says only that simulation failed.

The SDK's facilitator (and public ones) refuse most broken payments with the
generic ``transaction_simulation_failed``; the specific cause stays in its
free-text message, or nowhere. The seller replaces that generic reason with the
x402 error code of the cause it can establish (the message, then its own RPC
reads: is the blockhash alive, do the two token accounts hold enough), so the
buyer's 402 ``error`` says it:

- ``invalid_exact_svm_payload_transaction_receiver_ata_not_found``: the
  seller's token account for the mint is missing;
- ``invalid_exact_svm_payload_transaction_sender_ata_not_found``: the buyer
  has no token account for the mint;
- ``insufficient_funds``: the buyer holds less than the amount;
- ``invalid_exact_svm_payload_blockhash_expired``: the blockhash expired;
- ``duplicate_settlement``: this transaction was processed already.

Anything else keeps the facilitator's reason.
"""

from __future__ import annotations

from typing import Any

from . import strict
from .rpc import MISSING, BlockhashChecker

GENERIC = frozenset({"transaction_simulation_failed", "transaction_failed"})
ERR_RECEIVER_ATA = "invalid_exact_svm_payload_transaction_receiver_ata_not_found"
ERR_SENDER_ATA = "invalid_exact_svm_payload_transaction_sender_ata_not_found"
ERR_INSUFFICIENT_FUNDS = "insufficient_funds"
ERR_DUPLICATE = "duplicate_settlement"
#: Fragments of the chain's simulation error that name the cause by themselves.
MESSAGE_CAUSES = (
    ("AlreadyProcessed", ERR_DUPLICATE),
    ("BlockhashNotFound", strict.ERR_BLOCKHASH),
)


def specific_reason(
    reason: str | None, message: str | None, payload: Any, rpc: BlockhashChecker
) -> str | None:
    """The x402 code naming the cause of a generic refusal, or None to keep ``reason``.

    Args:
        reason: The facilitator's reason code.
        message: The facilitator's free-text message, if any.
        payload: The payment payload (its ``payload.transaction`` is read).
        rpc: The seller's RPC reader.
    """
    if reason not in GENERIC:
        return None
    for fragment, code in MESSAGE_CAUSES:
        if fragment in (message or ""):
            return code
    try:
        inner = payload.payload or {}
        transfer = strict.find_transfer(strict.decode_transaction(str(inner["transaction"])))
    except (strict.StrictCheckError, KeyError, TypeError, AttributeError):
        return None
    if rpc.is_valid(transfer.recent_blockhash) is False:
        return strict.ERR_BLOCKHASH
    if rpc.token_amount(transfer.destination) == MISSING:
        return ERR_RECEIVER_ATA
    held = rpc.token_amount(transfer.source)
    if held == MISSING:
        return ERR_SENDER_ATA
    if held is not None and held < transfer.amount:
        return ERR_INSUFFICIENT_FUNDS
    return None
