"""Independent verification: read the transfer from the chain, whatever the seller said.

A payment is VERIFIED only when the transaction the receipt names landed
without error, carries the agent's own signature, and moved exactly the signed
amount of the signed mint from the agent to the recipient (from the
transaction's pre/post token balances).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from autopay_app.agent.errors import SignatureInvalid


@dataclass(frozen=True)
class Expected:
    payer: str
    payer_signature: str
    mint: str
    pay_to: str
    amount_atomic: int


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


def check(tx: dict[str, Any], expected: Expected) -> Verified:
    """Compare the chain's view of a transaction with what the agent signed.

    Raises:
        SignatureInvalid: Anything differs; the message says what.
    """
    meta = tx.get("meta") or {}
    signatures = (tx.get("transaction") or {}).get("signatures") or []
    if meta.get("err") is not None:
        raise SignatureInvalid(f"the transaction failed on chain: {meta['err']}")
    if expected.payer_signature not in signatures:
        raise SignatureInvalid("the transaction does not carry the agent's signature")
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
