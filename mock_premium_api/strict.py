"""Strict seller checks on the signed transaction of an ``exact`` SVM payment.

The reference facilitator accepts a transfer of *at least* the price and
trusts the rest of its own checks; the x402 spec demands the exact amount.
Before the facilitator is asked to verify, the seller decodes the buyer's
transaction itself and refuses it unless its single token transfer moves
exactly the price, of the right mint, through the mint's token program, with
the right decimals, into the seller's associated token account, with the
facilitator as fee payer. Reason strings follow the SDK's
``invalid_exact_svm_payload_*`` vocabulary so clients can log them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
TOKEN_PROGRAMS = frozenset(
    {
        Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"),
        Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"),
    }
)
TRANSFER_CHECKED = 12

ERR_DECODE = "invalid_exact_svm_payload_transaction_could_not_be_decoded"
ERR_NO_TRANSFER = "invalid_exact_svm_payload_no_transfer_instruction"
ERR_MULTIPLE_TRANSFERS = "invalid_exact_svm_payload_multiple_transfer_instructions"
ERR_TOKEN_PROGRAM = "invalid_exact_svm_payload_token_program_mismatch"
ERR_MINT = "invalid_exact_svm_payload_mint_mismatch"
ERR_RECIPIENT = "invalid_exact_svm_payload_recipient_mismatch"
ERR_AMOUNT_INSUFFICIENT = "invalid_exact_svm_payload_amount_insufficient"
ERR_AMOUNT_EXCESSIVE = "invalid_exact_svm_payload_amount_exceeds_required"
ERR_DECIMALS = "invalid_exact_svm_payload_decimals_mismatch"
ERR_FEE_PAYER = "invalid_exact_svm_payload_fee_payer_mismatch"
ERR_BLOCKHASH = "invalid_exact_svm_payload_blockhash_expired"
ERR_TIMEOUT = "invalid_payment_requirements_max_timeout_mismatch"


class StrictCheckError(ValueError):
    """The transaction breaks a seller rule; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Expected:
    """What the seller demands of a payment.

    Attributes:
        amount: Exact amount in atomic units.
        mint: Mint address.
        token_program: Program that owns the mint.
        pay_to: Seller wallet; the destination must be its associated token account.
        fee_payer: Facilitator key that must pay the fee (``extra.feePayer``).
        decimals: Mint decimals the TransferChecked instruction must state.
    """

    amount: int
    mint: str
    token_program: str
    pay_to: str
    fee_payer: str | None
    decimals: int = 6


@dataclass(frozen=True)
class Transfer:
    """The token transfer found in a payment transaction."""

    amount: int
    mint: str
    destination: str
    token_program: str
    decimals: int
    recent_blockhash: str
    source: str = ""
    authority: str = ""


def decode_transaction(b64: str) -> VersionedTransaction:
    """Decode a base64 wire transaction.

    Raises:
        StrictCheckError: Not base64 or not a transaction.
    """
    try:
        return VersionedTransaction.from_bytes(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError, TypeError) as error:
        raise StrictCheckError(ERR_DECODE, str(error)) from None


def replay_key(tx: VersionedTransaction) -> str:
    """Stable identity of a payment: the SHA-256 of the signed message.

    The fee payer's signature slot is filled later by the facilitator, so the
    message (what the buyer signed) identifies the payment, not the wire bytes.
    """
    return hashlib.sha256(bytes(tx.message)).hexdigest()


def payload_fingerprint(tx: VersionedTransaction) -> str:
    """Identity of one exact payload: the SHA-256 of the transaction as the buyer sent it.

    Unlike :func:`replay_key` it covers the signatures too, so a copy of a
    payment's message with other (or corrupted) signatures is another payload.
    """
    return hashlib.sha256(bytes(tx)).hexdigest()


def payer(tx: VersionedTransaction) -> str:
    """The wallet a payment is drawn from: its transfer's authority ("" if it has none)."""
    try:
        transfer = find_transfer(tx)
    except StrictCheckError:
        return ""
    return transfer.authority


def associated_token_account(owner: str, mint: str, token_program: str) -> str:
    """Derive the associated token account of ``owner`` for ``mint``."""
    seeds = [
        bytes(Pubkey.from_string(owner)),
        bytes(Pubkey.from_string(token_program)),
        bytes(Pubkey.from_string(mint)),
    ]
    return str(Pubkey.find_program_address(seeds, ASSOCIATED_TOKEN_PROGRAM)[0])


def find_transfer(tx: VersionedTransaction) -> Transfer:
    """Return the single TransferChecked instruction of ``tx``.

    Raises:
        StrictCheckError: None, several, or a malformed one.
    """
    message = tx.message
    keys = list(message.account_keys)
    for ix in message.instructions:
        # solders decodes indexes past the static keys (a v0 lookup table, or junk);
        # the exact scheme names every account statically. Found by fuzz/fuzz_mock_api.py.
        if max([ix.program_id_index, *ix.accounts]) >= len(keys):
            raise StrictCheckError(ERR_DECODE, f"account index outside the {len(keys)} static keys")
    found = [ix for ix in message.instructions if keys[ix.program_id_index] in TOKEN_PROGRAMS]
    if not found:
        raise StrictCheckError(ERR_NO_TRANSFER)
    if len(found) > 1:
        raise StrictCheckError(ERR_MULTIPLE_TRANSFERS, f"{len(found)} token instructions")
    ix = found[0]
    data, accounts = bytes(ix.data), list(ix.accounts)
    if len(data) < 10 or data[0] != TRANSFER_CHECKED or len(accounts) < 4:
        raise StrictCheckError(ERR_NO_TRANSFER, "token instruction is not TransferChecked")
    return Transfer(
        amount=int.from_bytes(data[1:9], "little"),
        mint=str(keys[accounts[1]]),
        destination=str(keys[accounts[2]]),
        token_program=str(keys[ix.program_id_index]),
        decimals=data[9],
        recent_blockhash=str(message.recent_blockhash),
        source=str(keys[accounts[0]]),
        authority=str(keys[accounts[3]]),
    )


def check_transaction(tx: VersionedTransaction, expected: Expected) -> Transfer:
    """Check a payment transaction against the seller's demands.

    Args:
        tx: The buyer-signed transaction.
        expected: What this payment must be.

    Returns:
        The transfer, when every rule holds.

    Raises:
        StrictCheckError: The first rule broken, with its reason.
    """
    transfer = find_transfer(tx)
    if transfer.mint != expected.mint:
        raise StrictCheckError(ERR_MINT, f"got {transfer.mint}, want {expected.mint}")
    if transfer.token_program != expected.token_program:
        raise StrictCheckError(ERR_TOKEN_PROGRAM, transfer.token_program)
    want_ata = associated_token_account(expected.pay_to, expected.mint, expected.token_program)
    if transfer.destination != want_ata:
        raise StrictCheckError(ERR_RECIPIENT, f"got {transfer.destination}, want {want_ata}")
    if transfer.amount < expected.amount:
        raise StrictCheckError(ERR_AMOUNT_INSUFFICIENT, f"{transfer.amount} < {expected.amount}")
    if transfer.amount > expected.amount:
        raise StrictCheckError(ERR_AMOUNT_EXCESSIVE, f"{transfer.amount} > {expected.amount}")
    if transfer.decimals != expected.decimals:
        raise StrictCheckError(ERR_DECIMALS, f"{transfer.decimals} != {expected.decimals}")
    fee_payer = str(tx.message.account_keys[0])
    if expected.fee_payer and fee_payer != expected.fee_payer:
        raise StrictCheckError(ERR_FEE_PAYER, f"got {fee_payer}, want {expected.fee_payer}")
    return transfer


def envelope_mismatch(accepted: dict[str, object], offer: dict[str, object]) -> str | None:
    """Compare the requirements a buyer says it accepted with the current offer.

    Args:
        accepted: ``accepted`` of a v2 payment payload (same asset as ``offer``).
        offer: The requirement this API demands now for that asset.

    Returns:
        The reason of the first difference, or None when they agree.
    """
    try:
        amount, want = int(str(accepted.get("amount"))), int(str(offer["amount"]))
    except ValueError:
        return ERR_AMOUNT_INSUFFICIENT
    if amount < want:
        return ERR_AMOUNT_INSUFFICIENT
    if amount > want:
        return ERR_AMOUNT_EXCESSIVE
    if accepted.get("payTo") != offer["payTo"]:
        return ERR_RECIPIENT
    if accepted.get("maxTimeoutSeconds") != offer["maxTimeoutSeconds"]:
        return ERR_TIMEOUT
    return None
