"""The seller's token accounts, made sure of before the first request is answered.

The x402 ``exact`` scheme never creates the recipient's token account: a buyer
paying a ``payTo`` that has no associated token account (ATA) for the mint is
refused with a bare ``transaction_simulation_failed``. So ``autopay mock-api``
checks, before it listens, that ``payTo`` owns an ATA for every asset it accepts
(USDC: SPL Token; CASH: Token-2022):

- **local harness**: recognised by its harness-only endpoint ``GET
  {SOLANA_RPC_URL}/_harness/state`` answering with the harness's mints (no
  Solana node serves that path). Missing accounts are created through the
  harness faucet (``POST /_harness/fund`` with zero amounts creates the ATAs),
  over HTTP, as any client would.
- **any other RPC**: the accounts are only read (``getAccountInfo``); a missing
  one stops the start with one line naming the account, its owner, the mint and
  the ``spl-token`` command that creates it.

An RPC that does not answer within ``MOCK_API_START_WAIT_SECONDS`` (15) also
stops the start: an unchecked seller would only fail later, at the buyer's expense.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from .config import MockApiConfig

TOKEN_ACCOUNT_LEN = 165
PROGRAM_NAMES = {
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "SPL Token",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "Token-2022",
}


class SellerAccountError(RuntimeError):
    """The seller cannot take payments: the message is one line saying why and what to do."""


@dataclass(frozen=True)
class TokenAccount:
    """The associated token account ``payTo`` needs for one asset."""

    symbol: str
    owner: str
    mint: str
    program: str

    @property
    def address(self) -> str:
        return str(
            get_associated_token_address(
                Pubkey.from_string(self.owner),
                Pubkey.from_string(self.mint),
                Pubkey.from_string(self.program),
            )
        )

    def missing_message(self) -> str:
        program = PROGRAM_NAMES.get(self.program, self.program)
        return (
            f"the seller has no {self.symbol} token account: {self.address} "
            f"(owner {self.owner}, mint {self.mint}, {program}) does not exist; create it with "
            f"`spl-token create-account {self.mint} --owner {self.owner} "
            f"--program-id {self.program} --fee-payer <keypair> --url <SOLANA_RPC_URL>`"
        )


def required_accounts(config: MockApiConfig) -> list[TokenAccount]:
    """One ATA per accepted asset."""
    return [
        TokenAccount(symbol, config.pay_to, mint, program)
        for symbol, (mint, program) in config.assets().items()
    ]


def ensure_seller_accounts(
    config: MockApiConfig, say: Callable[[str], None] = print
) -> list[TokenAccount]:
    """Make sure ``payTo`` can receive every accepted asset; return the accounts created.

    Raises:
        SellerAccountError: An account is missing and cannot be created here, or
            the RPC did not answer within ``config.start_wait_seconds``.
    """
    with httpx.Client(timeout=5.0) as http:
        rpc = _Rpc(http, config.rpc_url)
        accounts = required_accounts(config)
        missing = _wait_for(lambda: [a for a in accounts if not rpc.holds(a)], config)
        if not missing:
            return []
        harness_mints = rpc.harness_mints()
        if harness_mints is None or not {a.mint for a in missing} <= harness_mints:
            raise SellerAccountError(missing[0].missing_message())
        try:
            rpc.fund_zero(config.pay_to)
        except httpx.HTTPError as error:
            raise SellerAccountError(
                f"the harness faucet at {config.rpc_url} failed: {type(error).__name__}: {error}"
            ) from None
        still = [a for a in missing if not rpc.holds(a)]
        if still:
            raise SellerAccountError(still[0].missing_message())
    for account in missing:
        say(f"created the seller's {account.symbol} token account {account.address} (harness)")
    return missing


def _wait_for(read: Callable[[], list[TokenAccount]], config: MockApiConfig) -> list[TokenAccount]:
    deadline = time.monotonic() + config.start_wait_seconds
    delay = 0.2
    while True:
        try:
            return read()
        except httpx.HTTPError as error:
            if time.monotonic() + delay > deadline:
                raise SellerAccountError(
                    f"cannot check the seller's token accounts: the Solana RPC at "
                    f"{config.rpc_url} does not answer ({type(error).__name__}: {error}); "
                    "start it (`autopay harness`) or set SOLANA_RPC_URL"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


class _Rpc:
    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http, self.url = http, url.rstrip("/")

    def _call(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        response = self.http.post(self.url, json=body)
        response.raise_for_status()
        answer = response.json()
        if not isinstance(answer, dict) or "result" not in answer:
            raise httpx.HTTPError(f"{method} answered {str(answer)[:200]}")
        return answer["result"]

    def holds(self, account: TokenAccount) -> bool:
        """Does ``account`` exist as a token account of the right program, mint and owner?"""
        options = {"encoding": "base64", "commitment": "confirmed"}
        value = self._call("getAccountInfo", [account.address, options])["value"]
        if value is None or value.get("owner") != account.program:
            return False
        data = base64.b64decode(value["data"][0])
        return (
            len(data) >= TOKEN_ACCOUNT_LEN
            and str(Pubkey.from_bytes(data[:32])) == account.mint
            and str(Pubkey.from_bytes(data[32:64])) == account.owner
        )

    def harness_mints(self) -> set[str] | None:
        """The mint addresses of the local harness, or None when the RPC is not one."""
        try:
            response = self.http.get(self.url + "/_harness/state")
            state = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        mints = state.get("mints") if isinstance(state, dict) else None
        if not isinstance(mints, dict):
            return None
        return {str(m.get("address")) for m in mints.values() if isinstance(m, dict)}

    def fund_zero(self, owner: str) -> None:
        """The harness faucet with zero amounts: creates the owner's token accounts."""
        body = {"address": owner, "sol": "0", "usdc": "0", "cash": "0"}
        response = self.http.post(self.url + "/_harness/fund", json=body, timeout=30.0)
        if response.status_code != 200:
            raise SellerAccountError(
                f"the harness faucet refused to create the seller's token accounts "
                f"({response.status_code}): {response.text[:200]}"
            )
