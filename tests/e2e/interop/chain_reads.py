"""What the chain says, asked over plain JSON-RPC (no project code): balances and transfers."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import requests


def rpc(url: str, method: str, params: list[Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = requests.post(url, json=body, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def token_balance(url: str, owner: str, mint: str) -> Decimal:
    """The owner's balance of ``mint`` (0 when it has no token account)."""
    result = rpc(
        url,
        "getTokenAccountsByOwner",
        [owner, {"mint": mint}, {"encoding": "jsonParsed", "commitment": "confirmed"}],
    )
    total = Decimal(0)
    for account in result["value"]:
        amount = account["account"]["data"]["parsed"]["info"]["tokenAmount"]
        total += Decimal(amount["amount"]).scaleb(-int(amount["decimals"]))
    return total


def token_accounts(url: str, owner: str, mint: str) -> list[str]:
    result = rpc(
        url,
        "getTokenAccountsByOwner",
        [owner, {"mint": mint}, {"encoding": "jsonParsed", "commitment": "confirmed"}],
    )
    return [str(a["pubkey"]) for a in result["value"]]


def signatures(url: str, address: str) -> list[str]:
    """Every successful transaction touching ``address`` (confirmed), newest first."""
    entries = rpc(url, "getSignaturesForAddress", [address, {"commitment": "confirmed"}])
    return [e["signature"] for e in entries if e.get("err") is None]


def transfers(url: str, signature: str, mint: str) -> list[tuple[str, int]]:
    """(owner, atomic change) of ``mint`` in one transaction, for every owner it moved."""
    tx = rpc(
        url,
        "getTransaction",
        [
            signature,
            {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0},
        ],
    )
    meta = tx["meta"]
    assert meta["err"] is None, meta["err"]

    def amounts(key: str) -> dict[str, int]:
        return {
            b["owner"]: int(b["uiTokenAmount"]["amount"])
            for b in meta.get(key) or []
            if b["mint"] == mint
        }

    pre, post = amounts("preTokenBalances"), amounts("postTokenBalances")
    return [
        (owner, post.get(owner, 0) - pre.get(owner, 0))
        for owner in sorted(set(pre) | set(post))
        if post.get(owner, 0) != pre.get(owner, 0)
    ]


def receipt(header: str) -> dict[str, Any]:
    """A decoded PAYMENT-RESPONSE header."""
    return dict(json.loads(base64.b64decode(header)))
