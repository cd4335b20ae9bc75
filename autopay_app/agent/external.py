"""Transactions a person's wallet signs (Phantom in the browser), and what comes back.

The server builds a transaction (a :class:`Held`: its message, the wallet that
must sign it, what it is for) and the browser has the wallet sign it (Wallet
Standard ``solana:signTransaction``: raw bytes in, raw bytes out). What comes
back is accepted (:func:`accept`) only when its message is byte for byte the one
built and the wallet's signature over it verifies: a page (or anything posing as
one) cannot change a recipient, an amount or a fee payer on the way. The server
never holds the person's key; it only learns the public address.

A held transaction travels with the page, sealed by the web layer with the app's
secret key (any worker of ``autopay serve`` can take the signed one back); the
blockhash inside bounds its life to a minute or two on chain.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from autopay_app.agent.errors import AgentError, SignatureInvalid

#: A Solana transaction is at most 1232 bytes: its base64 is at most 1644 characters.
MAX_TX_B64 = 1700


@dataclass(frozen=True)
class Held:
    """A transaction waiting for the wallet ``payer``: its message and what it is for."""

    kind: str
    payer: str
    transaction: VersionedTransaction
    facts: dict[str, Any]

    @property
    def unsigned_b64(self) -> str:
        return base64.b64encode(bytes(self.transaction)).decode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "payer": self.payer,
            "tx": self.unsigned_b64,
            "facts": self.facts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Held:
        tx = VersionedTransaction.from_bytes(base64.b64decode(data["tx"]))
        return cls(str(data["kind"]), str(data["payer"]), tx, dict(data["facts"]))


def unsigned(message: Any) -> VersionedTransaction:
    """A transaction of ``message`` with every signature slot empty."""
    slots = message.header.num_required_signatures
    return VersionedTransaction.populate(message, [Signature.default()] * slots)


def decode(raw: Any) -> VersionedTransaction:
    """The wallet's signed transaction from base64.

    Raises:
        SignatureInvalid: Not a base64 Solana transaction.
    """
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_TX_B64:
        raise SignatureInvalid("the signed transaction is missing or too long")
    try:
        return VersionedTransaction.from_bytes(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"the signed transaction does not parse: {exc}") from None


def accept(held: Held, raw: Any) -> VersionedTransaction:
    """The signed transaction, if it is the held one signed by its payer.

    Raises:
        SignatureInvalid: Another message, or no valid signature of the payer on it.
    """
    signed = decode(raw)
    expected = held.transaction.message
    if bytes(signed.message) != bytes(expected):
        raise SignatureInvalid("the wallet returned another transaction than the one built")
    payer = Pubkey.from_string(held.payer)
    signers = list(expected.account_keys)[: expected.header.num_required_signatures]
    if payer not in signers:
        raise AgentError(f"{held.payer} does not sign this transaction", category="UNKNOWN")
    signature = signed.signatures[signers.index(payer)]
    if not signature.verify(payer, to_bytes_versioned(expected)):
        raise SignatureInvalid(f"no valid signature of {held.payer} on the transaction")
    return signed
