"""What the agent asks the Solana RPC (solana-py), with failures classified.

The agent reaches the chain only over HTTP, exactly as it reaches the real
Devnet: balances, the latest blockhash and block height, a transaction by
signature, and the agent's recent signatures (to find a payment by its memo).
"""

from __future__ import annotations

import base64
import json
import threading
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.api import Client
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solders.pubkey import Pubkey
from solders.signature import Signature

from autopay_app.agent.errors import AgentError, NetworkFailure, RateLimited, RpcTimeout
from autopay_app.agent.jsonrpc import JsonRpc

LAMPORTS_PER_SOL = Decimal(1_000_000_000)
#: Where an SPL mint (Token and Token-2022 alike) keeps its decimals.
MINT_DECIMALS_OFFSET = 44


@dataclass(frozen=True)
class Balances:
    sol: Decimal
    usdc: Decimal
    cash: Decimal
    #: The slot each token balance was read at.
    slots: dict[str, int] = field(default_factory=dict)

    def of(self, asset: str) -> Decimal:
        return {"SOL": self.sol, "USDC": self.usdc, "CASH": self.cash}[asset]


def solana_client(rpc_url: str, timeout: float = 10.0) -> Client:
    """solana-py's synchronous ``Client``, without its deprecation warning.

    solana-py 0.39 deprecates the sync client in favour of ``AsyncClient``, but the
    x402 SDK's SVM scheme is built on it (hence ``solana<0.40``): the project uses
    it knowingly, and its warnings (a DeprecationWarning and a FutureWarning) are
    silenced here, where the client is made.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Client is deprecated")
        return Client(rpc_url, timeout=timeout)


def classify_rpc_error(exc: BaseException) -> AgentError:
    """Map a solana-py / httpx failure to the agent's error tree."""
    # solana-py 0.39 talks through httpx2 (a fork of httpx with the same exception tree).
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.TimeoutException | httpx2.TimeoutException):
            return RpcTimeout(f"RPC timed out: {cause}")
        if isinstance(cause, httpx.HTTPStatusError | httpx2.HTTPStatusError):
            if cause.response.status_code == 429:
                return RateLimited("RPC rate limited (HTTP 429)")
            return NetworkFailure(f"RPC answered HTTP {cause.response.status_code}")
        if isinstance(cause, httpx.TransportError | httpx2.TransportError):
            return NetworkFailure(f"RPC unreachable: {cause}")
        cause = cause.__cause__ or cause.__context__
    return NetworkFailure(f"RPC failed: {exc}")


def rpc_failure(exc: BaseException) -> AgentError | None:
    """The classified error for an RPC failure raised inside the SDK, or None if it is not one."""
    if isinstance(exc, SolanaRpcException | httpx.HTTPError | httpx2.HTTPError):
        return classify_rpc_error(exc)
    if isinstance(exc, RPCException):
        return NetworkFailure(f"RPC error: {exc}"[:500])
    return None


class Chain:
    """A thin, classified RPC reader for one agent."""

    def __init__(self, rpc_url: str, usdc_mint: str, cash_mint: str, timeout: float = 5.0):
        self.rpc_url = rpc_url
        self.mints = {"USDC": usdc_mint, "CASH": cash_mint}
        self._client = solana_client(rpc_url, timeout=timeout)
        self._json = JsonRpc(rpc_url, timeout)
        self._slot_lock = threading.Lock()
        #: The highest slot any answer named (its ``context``, or a transaction's slot).
        self.seen_slot = 0

    def close(self) -> None:
        self._client._provider.session.close()
        self._json.close()

    def _saw(self, result: Any) -> None:
        """Keep the highest slot an answer's ``result`` names (``context.slot``, or a
        transaction's ``slot``)."""
        if not isinstance(result, dict):
            return
        context = result.get("context")
        slot = context.get("slot") if isinstance(context, dict) else result.get("slot")
        if isinstance(slot, int):
            with self._slot_lock:
                self.seen_slot = max(self.seen_slot, slot)

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            answer = json.loads(fn(*args, **kw).to_json())
            self._saw(answer.get("result") if isinstance(answer, dict) else None)
            return answer
        except (SolanaRpcException, httpx.HTTPError, httpx2.HTTPError) as exc:
            raise classify_rpc_error(exc) from exc
        except RPCException as exc:  # the node answered a JSON-RPC error (e.g. unhealthy)
            raise NetworkFailure(f"RPC error: {exc}"[:500]) from exc
        except (ValueError, KeyError) as exc:  # a JSON-RPC error object instead of a result
            raise NetworkFailure(f"RPC error: {exc}") from exc

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A plain JSON-RPC call (:class:`~autopay_app.agent.jsonrpc.JsonRpc`), for the reads
        on every paid request: the answer is used as JSON, so it is parsed once (solana-py
        would build typed objects, then the agent would turn them back into JSON)."""
        result = self._json.call(method, params)
        self._saw(result)
        return result

    def latest_blockhash(self) -> tuple[str, int]:
        blockhash, last_valid, _ = self.latest_blockhash_at()
        return blockhash, last_valid

    def latest_blockhash_at(self) -> tuple[str, int, int]:
        """The latest blockhash, its last valid block height, and the slot it was read at."""
        result = self._rpc("getLatestBlockhash", [{"commitment": "confirmed"}])
        value = result["value"]
        slot = int(result["context"]["slot"])
        return str(value["blockhash"]), int(value["lastValidBlockHeight"]), slot

    def account_owner(self, address: str) -> str | None:
        """The program owning ``address``, or None when the account does not exist."""
        options = {
            "encoding": "base64",
            "commitment": "confirmed",
            "dataSlice": {"offset": 0, "length": 0},
        }
        value = self._rpc("getAccountInfo", [address, options])["value"]
        return str(value["owner"]) if isinstance(value, dict) else None

    def mint_info(self, mint: str) -> tuple[str, int]:
        """A mint's token program (Token or Token-2022: the account's owner) and decimals.

        Raises:
            NetworkFailure: No such mint on the chain (or the RPC failed).
        """
        value = self._rpc(
            "getAccountInfo", [mint, {"encoding": "base64", "commitment": "confirmed"}]
        )
        try:
            data = base64.b64decode(value["value"]["data"][0])
            return str(value["value"]["owner"]), data[MINT_DECIMALS_OFFSET]
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise NetworkFailure(f"no mint {mint} on the chain ({exc!r})") from exc

    def send_transaction(self, tx_b64: str) -> str:
        """sendTransaction (preflight on): the signature, or the node's refusal as an error."""
        options = {"encoding": "base64", "preflightCommitment": "confirmed"}
        return str(self._rpc("sendTransaction", [tx_b64, options]))

    def block_height(self) -> int:
        return int(self._call(self._client.get_block_height, Confirmed)["result"])

    def token_balance(self, owner: str, asset: str) -> Decimal:
        """The owner's balance of ``asset`` over all its token accounts for the mint."""
        return self.token_balance_at(owner, asset)[0]

    def token_balance_at(self, owner: str, asset: str) -> tuple[Decimal, int | None]:
        """:meth:`token_balance` and the slot it was read at (one plain JSON-RPC read)."""
        options = {"encoding": "jsonParsed", "commitment": "confirmed"}
        result = self._rpc("getTokenAccountsByOwner", [owner, {"mint": self.mints[asset]}, options])
        total = Decimal(0)
        try:
            for account in result["value"]:
                amount = account["account"]["data"]["parsed"]["info"]["tokenAmount"]
                total += Decimal(amount["amount"]) / (Decimal(10) ** int(amount["decimals"]))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise NetworkFailure(f"RPC answered a malformed token account: {exc}") from exc
        slot = (result.get("context") or {}).get("slot") if isinstance(result, dict) else None
        return total, slot if isinstance(slot, int) else None

    def balances(self, owner: str) -> Balances:
        lamports = self._call(self._client.get_balance, Pubkey.from_string(owner), Confirmed)[
            "result"
        ]["value"]
        (usdc, usdc_slot), (cash, cash_slot) = (
            self.token_balance_at(owner, "USDC"),
            self.token_balance_at(owner, "CASH"),
        )
        slots = {a: s for a, s in (("USDC", usdc_slot), ("CASH", cash_slot)) if s is not None}
        return Balances(Decimal(lamports) / LAMPORTS_PER_SOL, usdc, cash, slots)

    def transaction(
        self, signature: str, commitment: str = "confirmed", encoding: str = "json"
    ) -> dict[str, Any] | None:
        """getTransaction of ``signature`` at ``commitment``, or None if unknown.

        ``encoding`` ``json`` lists the signatures and renders the message; ``base64``
        gives the wire bytes (``[data, "base64"]``) with the same ``meta``: what the
        agent's verification reads (:func:`autopay_app.agent.verify.check`).
        """
        Signature.from_string(signature)  # a malformed one is refused here, not by the node
        options = {
            "encoding": encoding,
            "commitment": commitment,
            "maxSupportedTransactionVersion": 0,
        }
        result = self._rpc("getTransaction", [signature, options])
        return result if isinstance(result, dict) else None

    def status(self, signature: str) -> str | None:
        """processed / confirmed / finalized, or None when the chain does not know it."""
        result = self._call(
            self._client.get_signature_statuses, [Signature.from_string(signature)], True
        )["result"]["value"][0]
        if result is None or result.get("err") is not None:
            return None
        return str(result.get("confirmationStatus") or "processed")

    def signatures(
        self, owner: str, before: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """One page of getSignaturesForAddress(owner), newest first."""
        return list(
            self._call(
                self._client.get_signatures_for_address,
                Pubkey.from_string(owner),
                Signature.from_string(before) if before else None,
                None,
                limit,
                Confirmed,
            )["result"]
        )

    def find_by_memo(
        self, owner: str, memo: str, since: float | None = None, max_pages: int = 50
    ) -> str | None:
        """The signature of the agent's transaction carrying ``memo``, if it landed.

        Pages back through the agent's history (newest first) until a block time
        before ``since`` (a Unix time), or the end of the history: a payment is
        never declared absent because it fell off the first page.
        """
        before = None
        for _ in range(max_pages):
            page = self.signatures(owner, before)
            for entry in page:
                if entry.get("err") is None and memo and memo in (entry.get("memo") or ""):
                    return str(entry["signature"])
            oldest = page[-1].get("blockTime") if page else None
            if len(page) < 1000 or (since is not None and oldest is not None and oldest < since):
                return None
            before = page[-1]["signature"]
        raise NetworkFailure(f"history of {owner} is deeper than {max_pages} pages")
