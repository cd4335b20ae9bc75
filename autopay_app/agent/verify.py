"""Independent verification: read the transfer from the chain, whatever the seller said.

A payment is VERIFIED only when the transaction the receipt names landed
without error, carries the agent's own signature, and moved exactly the signed
amount of the signed mint from the agent to the recipient (from the
transaction's pre/post token balances).

The transaction is read as bytes (getTransaction ``base64``: the node renders no
message, the agent parses no message JSON): its signature list must hold the
payer's signature in the payer's own signer slot, and, when the signed bytes
are known, its message must be byte for byte the message the payer signed. A
``json`` answer (another node, an older caller) is checked as before.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature

from autopay_app.agent.errors import SignatureInvalid

SIGNATURE_BYTES = 64
KEY_BYTES = 32


@dataclass(frozen=True)
class Expected:
    payer: str
    payer_signature: str
    mint: str
    pay_to: str
    amount_atomic: int
    #: The transaction as the payer signed it (base64 wire bytes; the payment row keeps
    #: them): the landed transaction's message must equal its message. None: unknown.
    signed_transaction: str | None = None


@dataclass(frozen=True)
class Verified:
    metadata: dict[str, Any]
    fee_lamports: int | None
    #: The payer's balance of the mint right after the transfer (its post token balance on
    #: chain) and the transaction's slot: the balance row follows a payment without
    #: another read (:func:`autopay_app.agent.guard.after_payment`). None when unknown.
    payer_after: Decimal | None = None
    slot: int | None = None


def _post_balance(meta: dict[str, Any], mint: str, owner: str) -> Decimal | None:
    """``owner``'s balance of ``mint`` after the transaction (its token accounts in it)."""
    total, seen = Decimal(0), False
    try:
        for b in meta.get("postTokenBalances") or []:
            if b.get("mint") == mint and b.get("owner") == owner:
                amount = b["uiTokenAmount"]
                total += Decimal(str(amount["amount"])) / (Decimal(10) ** int(amount["decimals"]))
                seen = True
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
    return total if seen else None


def _deltas(meta: dict[str, Any], mint: str) -> dict[str, int]:
    """Token balance change per owner for ``mint``."""

    def amounts(key: str) -> dict[tuple[int, str], int]:
        return {
            (b["accountIndex"], b.get("owner", "")): int(b["uiTokenAmount"]["amount"])
            for b in meta.get(key) or []
            if b.get("mint") == mint
        }

    pre, post = amounts("preTokenBalances"), amounts("postTokenBalances")
    out: dict[str, int] = {}
    for key in set(pre) | set(post):
        out[key[1]] = out.get(key[1], 0) + post.get(key, 0) - pre.get(key, 0)
    return out


def _compact_u16(data: bytes, at: int) -> tuple[int, int]:
    """A compact-u16 (Solana's short_vec length) at ``at``: (value, next offset)."""
    value = 0
    for i in range(3):
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise ValueError("compact-u16 longer than 3 bytes")


@dataclass(frozen=True)
class Wire:
    """A transaction's wire bytes split as the chain signs them."""

    signatures: list[bytes]
    message: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Wire:
        count, at = _compact_u16(raw, 0)
        end = at + count * SIGNATURE_BYTES
        if count == 0 or end >= len(raw):
            raise ValueError("no signatures or no message")
        sigs = [raw[i : i + SIGNATURE_BYTES] for i in range(at, end, SIGNATURE_BYTES)]
        return cls(sigs, raw[end:])

    def signer(self, index: int) -> bytes | None:
        """The account key that made signature ``index`` (a message's static keys begin
        with its signers, in the order of the signatures); None if there is none."""
        try:
            at = 1 if self.message[0] & 0x80 else 0  # a versioned message: its version first
            required = self.message[at]
            keys, at = _compact_u16(self.message, at + 3)  # after the 3-byte header
        except (IndexError, ValueError):
            return None
        start = at + index * KEY_BYTES
        if index >= min(required, keys) or start + KEY_BYTES > len(self.message):
            return None
        return self.message[start : start + KEY_BYTES]


def _wire(data: Any) -> Wire:
    """The transaction of a base64 getTransaction answer (``[data, "base64"]``)."""
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
        raise SignatureInvalid("the node answered the transaction in an unexpected encoding")
    try:
        return Wire.parse(base64.b64decode(data[0], validate=True))
    except (binascii.Error, ValueError, TypeError, IndexError) as exc:
        raise SignatureInvalid(f"the node answered a malformed transaction: {exc}") from exc


def _signed_message(signed_transaction: str | None) -> bytes | None:
    """The message of the payer's own signed bytes (None: unknown or unreadable, and the
    signature proves the transaction is the payer's)."""
    if not signed_transaction:
        return None
    try:
        return Wire.parse(base64.b64decode(signed_transaction, validate=True)).message
    except (binascii.Error, ValueError, TypeError, IndexError):
        return None


def _payers_own(tx: dict[str, Any], expected: Expected) -> list[str]:
    """The transaction's signatures (base58), once it is shown to be the payer's own.

    Raises:
        SignatureInvalid: The payer's signature is not among them (or not in the payer's
            signer slot), or the message is not the one the payer signed.
    """
    data = tx.get("transaction")
    if isinstance(data, dict):  # a json answer: the signatures are listed
        signatures = data.get("signatures") or []
        if expected.payer_signature not in signatures:
            raise SignatureInvalid("the transaction does not carry the agent's signature")
        return list(signatures)
    wire = _wire(data)
    try:
        mine = bytes(Signature.from_string(expected.payer_signature))
        payer = bytes(Pubkey.from_string(expected.payer))
    except ValueError as exc:
        raise SignatureInvalid(f"no signature of the agent to look for: {exc}") from exc
    if mine not in wire.signatures or wire.signer(wire.signatures.index(mine)) != payer:
        raise SignatureInvalid("the transaction does not carry the agent's signature")
    signed = _signed_message(expected.signed_transaction)
    if signed is not None and signed != wire.message:
        raise SignatureInvalid("the transaction on chain is not the message the agent signed")
    return [str(Signature.from_bytes(sig)) for sig in wire.signatures]


def check(tx: dict[str, Any], expected: Expected) -> Verified:
    """Compare the chain's view of a transaction (a getTransaction answer, ``base64`` or
    ``json``) with what the agent signed.

    Raises:
        SignatureInvalid: Anything differs; the message says what.
    """
    meta = tx.get("meta") or {}
    if meta.get("err") is not None:
        raise SignatureInvalid(f"the transaction failed on chain: {meta['err']}")
    signatures = _payers_own(tx, expected)
    deltas = _deltas(meta, expected.mint)
    paid, received = -deltas.get(expected.payer, 0), deltas.get(expected.pay_to, 0)
    if paid != expected.amount_atomic or received != expected.amount_atomic:
        raise SignatureInvalid(
            f"on chain the agent paid {paid} and {expected.pay_to} received {received} of "
            f"{expected.mint}; {expected.amount_atomic} was signed"
        )
    summary = {
        "signature": signatures[0] if signatures else None,
        "signatures": signatures,
        "slot": tx.get("slot"),
        "blockTime": tx.get("blockTime"),
        "fee": meta.get("fee"),
        "mint": expected.mint,
        "from": expected.payer,
        "to": expected.pay_to,
        "amount_atomic": str(expected.amount_atomic),
        "amount": str(Decimal(expected.amount_atomic) / Decimal(10**6)),
        "logMessages": (meta.get("logMessages") or [])[:20],
    }
    fee, slot = meta.get("fee"), tx.get("slot")
    return Verified(
        summary,
        int(fee) if fee is not None else None,
        _post_balance(meta, expected.mint, expected.payer),
        slot if isinstance(slot, int) else None,
    )
