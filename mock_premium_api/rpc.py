"""The Solana JSON-RPC questions the seller asks itself.

Is this blockhash alive? The facilitator fails an expired transaction only
as a generic ``transaction_simulation_failed``; asking ``isBlockhashValid`` then
lets the seller tell the buyer to re-sign. How much does this token account hold
(does it exist)? Both are asked only after the facilitator refused a payment, to
name the reason (:mod:`.refusals`): a good payment waits for neither. Any RPC trouble
answers "unknown", and the facilitator remains the authority.
"""

from __future__ import annotations

import base64
import itertools

import httpx

#: ``token_amount`` of an account that does not exist (or is not a token account).
MISSING = -1
TOKEN_ACCOUNT_LEN = 165


class BlockhashChecker:
    """Asks ``isBlockhashValid`` and reads token accounts (pooled HTTP client, thread-safe)."""

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

    def token_amount(self, address: str) -> int | None:
        """Atomic amount held by a token account; MISSING when there is none; None if unknown."""
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "getAccountInfo",
            "params": [address, {"encoding": "base64", "commitment": "confirmed"}],
        }
        try:
            value = self._client.post(self._url, json=body).json()["result"]["value"]
            if value is None:
                return MISSING
            data = base64.b64decode(value["data"][0])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError):
            return None
        if len(data) < TOKEN_ACCOUNT_LEN:
            return MISSING
        return int.from_bytes(data[64:72], "little")

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()
