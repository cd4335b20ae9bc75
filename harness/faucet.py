"""The faucet: SOL and genesis tokens for any address.

Real Devnet has no such endpoint (see README.md). Here one transaction, signed by the
harness authority, transfers the SOL, creates the owner's associated token accounts
(always, even for an amount of 0) and mints the tokens into them, so the funding shows up
in the address's history like any other transaction.
"""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from harness import genesis, tokens
from harness.chain import Chain
from harness.errors import FundError, RpcError

MAX_SOL = Decimal(1_000_000)
MAX_TOKENS = Decimal(1_000_000_000_000)


def to_atomic(value: Any, decimals: int, limit: Decimal, name: str) -> int:
    """Convert a decimal amount (string or number) to integer atomic units exactly.

    Raises:
        FundError: When the amount is not a finite, non-negative number with at most
            ``decimals`` decimal places, or is above ``limit``.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FundError(f"{name} must be a decimal string or a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise FundError(f"{name} is not a number: {value!r}") from exc
    if not amount.is_finite() or amount < 0 or amount > limit:
        raise FundError(f"{name} must be between 0 and {limit}")
    atomic = amount.scaleb(decimals)
    if atomic != atomic.to_integral_value():
        raise FundError(f"{name} has more than {decimals} decimal places")
    return int(atomic)


def fund(chain: Chain, address: object, sol: Any = 0, usdc: Any = 0, cash: Any = 0) -> dict:
    """Fund ``address`` with SOL, USDC and CASH; return its new balances.

    Raises:
        FundError: On a bad address or amount, or when the funding transaction fails.
    """
    try:
        owner = Pubkey.from_string(address) if isinstance(address, str) else None
    except ValueError:
        owner = None
    if owner is None:
        raise FundError(f"not a base58 Solana address: {address!r}")
    lamports = to_atomic(sol, 9, MAX_SOL, "sol")
    amounts = {"usdc": usdc, "cash": cash}
    authority = chain.authority
    instructions = []
    if lamports:
        params = TransferParams(from_pubkey=authority.pubkey(), to_pubkey=owner, lamports=lamports)
        instructions.append(transfer(params))
    for spec in genesis.MINTS:
        atomic = to_atomic(amounts[spec.symbol], spec.decimals, MAX_TOKENS, spec.symbol)
        instructions.append(
            tokens.create_ata_idempotent(authority.pubkey(), owner, spec.address, spec.program)
        )
        if atomic:
            ata = tokens.associated_token_address(owner, spec.address, spec.program)
            instructions.append(
                tokens.mint_to_checked(
                    spec.address, ata, authority.pubkey(), atomic, spec.decimals, spec.program
                )
            )
    try:
        record = chain.submit(instructions, [authority])
    except RpcError as exc:
        raise FundError(f"funding transaction failed: {exc.message}") from exc
    return {**balances(chain, owner), "signatures": [record.signature]}


def balances(chain: Chain, owner: Pubkey) -> dict:
    """Return an owner's SOL and genesis-token balances and token account addresses."""
    lamports = chain.get_balance(owner)
    out: dict[str, Any] = {
        "address": str(owner),
        "lamports": lamports,
        "sol": str(Decimal(lamports).scaleb(-9).normalize()),
        "token_accounts": {},
    }
    for spec in genesis.MINTS:
        ata = tokens.associated_token_address(owner, spec.address, spec.program)
        account = chain.get_account(ata)
        amount = 0
        if account is not None and tokens.is_token_account(account.owner, bytes(account.data)):
            amount = tokens.unpack_token_account(bytes(account.data)).amount
        out[spec.symbol] = tokens.ui_token_amount(amount, spec.decimals)["uiAmountString"]
        out["token_accounts"][spec.symbol] = str(ata)
    return out


def fund_via_http(
    rpc_url: str, address: str, sol: Any = 0, usdc: Any = 0, cash: Any = 0, timeout: float = 30
) -> dict:
    """Fund an address through a running harness's POST /_harness/fund.

    This is what ``autopay fund`` calls.

    Raises:
        FundError: When the harness refuses or cannot be reached.
    """
    body = json.dumps({"address": address, "sol": str(sol), "usdc": str(usdc), "cash": str(cash)})
    request = urllib.request.Request(
        rpc_url.rstrip("/") + "/_harness/fund",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise FundError(f"harness refused funding ({exc.code}): {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FundError(f"harness at {rpc_url} unreachable: {exc}") from exc
