"""Transactions a wallet's owner sends itself, for tests that change the chain under a service.

Closing a token account (a seller that closed its USDC account) and moving tokens
out of a wallet (a buyer whose funds left between two reads), signed by the
owner's keypair and sent over the harness's JSON-RPC like any wallet would.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import requests
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction
from spl.token.instructions import close_account, transfer_checked
from spl.token.models import CloseAccountParams, TransferCheckedParams


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = requests.post(url, json=body, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def send(url: str, signers: list[Keypair], instructions: list[Instruction]) -> str:
    """Sign with ``signers`` (the first pays the fee), send, and wait until confirmed."""
    blockhash = _rpc(url, "getLatestBlockhash", [{"commitment": "confirmed"}])["value"]
    recent = Hash.from_string(blockhash["blockhash"])
    message = Message.new_with_blockhash(instructions, signers[0].pubkey(), recent)
    wire = base64.b64encode(bytes(Transaction(signers, message, recent))).decode()
    signature = _rpc(url, "sendTransaction", [wire, {"encoding": "base64"}])
    for _ in range(200):
        status = _rpc(url, "getSignatureStatuses", [[signature]])["value"][0]
        if status and status.get("confirmationStatus") in ("confirmed", "finalized"):
            assert status.get("err") is None, status
            return str(signature)
        time.sleep(0.05)
    raise AssertionError(f"{signature} was not confirmed")


def ata(owner: Pubkey, mint: str, program: str) -> Pubkey:
    return get_associated_token_address(
        owner, Pubkey.from_string(mint), Pubkey.from_string(program)
    )


def close_token_account(url: str, owner: Keypair, mint: str, program: str) -> str:
    """Close ``owner``'s (empty) associated token account for ``mint`` (owner pays the fee)."""
    params = CloseAccountParams(
        program_id=Pubkey.from_string(program),
        account=ata(owner.pubkey(), mint, program),
        dest=owner.pubkey(),
        owner=owner.pubkey(),
    )
    return send(url, [owner], [close_account(params)])


def move_tokens(
    url: str, owner: Keypair, to: Pubkey, mint: str, program: str, atomic: int, fee_payer: Keypair
) -> str:
    """Transfer ``atomic`` units of ``mint`` from ``owner`` to ``to`` (whose account exists)."""
    params = TransferCheckedParams(
        program_id=Pubkey.from_string(program),
        source=ata(owner.pubkey(), mint, program),
        mint=Pubkey.from_string(mint),
        dest=ata(to, mint, program),
        owner=owner.pubkey(),
        amount=atomic,
        decimals=6,
    )
    return send(url, [fee_payer, owner], [transfer_checked(params)])
