"""The one Solana JSON-RPC question the seller asks itself: is this blockhash alive?

The facilitator would also fail an expired transaction, but only as a generic
``transaction_simulation_failed``; asking ``isBlockhashValid`` first lets the
seller tell the buyer to re-sign. Any RPC trouble answers "unknown", and the
facilitator's simulation remains the authority.
"""

from __future__ import annotations

import itertools

import httpx


class BlockhashChecker:
    """Asks ``isBlockhashValid`` over a pooled HTTP client (thread-safe)."""

    def __init__(self, rpc_url: str, timeout: float = 2.0) -> None:
        self._url = rpc_url
        self._client = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def is_valid(self, blockhash: str) -> bool | None:
        """True or False as the RPC says; None when it cannot say."""
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "isBlockhashValid",
            "params": [blockhash, {"commitment": "processed"}],
        }
        try:
            answer = self._client.post(self._url, json=body).json()
            value = answer["result"]["value"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, bool) else None

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()
