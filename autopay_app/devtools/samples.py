"""Sample x402 documents and Devnet-style transactions (seed data, tests, benchmarks).

Shapes follow the x402 v2 wire format (``PaymentRequired`` with ``accepts`` of
``PaymentRequirements``) on Solana Devnet.
"""

from __future__ import annotations

import hashlib
from typing import Any

import base58

DEVNET = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
USDC_DEVNET_MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
DEMO_SELLER = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
DEMO_FEE_PAYER = "FeePayer1111111111111111111111111111111111"


def fake_address(seed: str) -> str:
    """A syntactically valid base58 32-byte address derived from ``seed``."""
    return base58.b58encode(hashlib.sha256(seed.encode()).digest()).decode()


def fake_signature(seed: str) -> str:
    """A syntactically valid base58 64-byte signature derived from ``seed``."""
    digest = hashlib.sha512(seed.encode()).digest()
    return base58.b58encode(digest).decode()


def payment_required(
    resource: str,
    *,
    amount_atomic: int = 10_000,
    asset: str = USDC_DEVNET_MINT,
    pay_to: str = DEMO_SELLER,
    description: str = "Premium data",
) -> dict[str, Any]:
    """An x402 v2 PaymentRequired document for ``resource``."""
    return {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": resource, "description": description, "mimeType": "application/json"},
        "accepts": [
            {
                "scheme": "exact",
                "network": DEVNET,
                "asset": asset,
                "amount": str(amount_atomic),
                "payTo": pay_to,
                "maxTimeoutSeconds": 60,
                "extra": {"feePayer": DEMO_FEE_PAYER},
            }
        ],
    }


def transaction_metadata(
    signature: str,
    *,
    slot: int,
    amount_atomic: int,
    mint: str,
    payer: str,
    pay_to: str,
    fee: int = 10_000,
) -> dict[str, Any]:
    """A getTransaction-shaped summary of an SPL transfer, as stored in transaction_logs."""
    return {
        "signature": signature,
        "slot": slot,
        "blockTime": None,
        "meta": {
            "fee": fee,
            "err": None,
            "preTokenBalances": [],
            "postTokenBalances": [],
            "logMessages": ["Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA success"],
        },
        "transfer": {
            "mint": mint,
            "source_owner": payer,
            "destination_owner": pay_to,
            "amount": str(amount_atomic),
        },
    }
