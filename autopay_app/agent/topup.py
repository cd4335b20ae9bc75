"""Top up the agent from a person's wallet: built here, signed in the browser, sent here.

:func:`prepare` builds the transfer the wallet is asked to sign: the wallet pays
the fee, the agent's associated token account is created first when it is
missing, and a ``TransferChecked`` moves the amount under the mint's own token
program (Token or Token-2022: the mint account's owner) with its decimals.
:func:`submit` accepts only that message signed by that wallet
(:mod:`autopay_app.agent.external`), sends it on the RPC, waits for its
confirmation, records a TOP_UP audit event (payer, signature, asset, amount)
and refreshes the agent's balance row: a low-balance pause lifts by itself.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from autopay_app.agent import external, guard, io
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import AgentError, InsufficientFunds, PolicyDenied, SettlementPending
from autopay_app.ledger import topups

KIND = "top-up"
ASSETS = ("USDC", "CASH")
MAX_AMOUNT = Decimal(1_000_000)
CONFIRM_S = 30.0
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
CREATE_IDEMPOTENT, TRANSFER_CHECKED = 1, 12


def associated_account(owner: Pubkey, mint: Pubkey, program: Pubkey) -> Pubkey:
    """The associated token account of ``owner`` for ``mint`` under token ``program``."""
    return Pubkey.find_program_address([bytes(owner), bytes(program), bytes(mint)], ATA_PROGRAM)[0]


def create_account(payer: Pubkey, owner: Pubkey, mint: Pubkey, program: Pubkey) -> Instruction:
    """The associated token program's CreateIdempotent (``payer`` pays the rent)."""
    accounts = [
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(associated_account(owner, mint, program), is_signer=False, is_writable=True),
        AccountMeta(owner, is_signer=False, is_writable=False),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False),
        AccountMeta(program, is_signer=False, is_writable=False),
    ]
    return Instruction(ATA_PROGRAM, bytes([CREATE_IDEMPOTENT]), accounts)


def transfer(
    owner: Pubkey, to: Pubkey, mint: Pubkey, program: Pubkey, atomic: int, decimals: int
) -> Instruction:
    """TransferChecked of ``atomic`` units from ``owner``'s account to ``to``'s (the same
    layout for Token and Token-2022, as the x402 SDK builds it)."""
    data = bytes([TRANSFER_CHECKED]) + atomic.to_bytes(8, "little") + bytes([decimals])
    accounts = [
        AccountMeta(associated_account(owner, mint, program), is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(associated_account(to, mint, program), is_signer=False, is_writable=True),
        AccountMeta(owner, is_signer=True, is_writable=False),
    ]
    return Instruction(program, data, accounts)


@dataclass(frozen=True)
class ToppedUp:
    signature: str
    asset: str
    amount: Decimal
    balance: Decimal
    paused: bool


def parse_amount(raw: object, decimals: int = 6) -> Decimal:
    """A positive token amount with at most ``decimals`` places.

    Raises:
        PolicyDenied: Anything else.
    """
    try:
        amount = Decimal(str(raw).strip()) if isinstance(raw, str | int) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not 0 < amount <= MAX_AMOUNT:
        raise PolicyDenied(f"amount: not a token amount between 0 and {MAX_AMOUNT}: {raw!r}"[:200])
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise PolicyDenied(f"amount: at most {decimals} decimal places: {raw!r}"[:200])
    return amount


def prepare(ctx: AgentContext, payer: str, asset: str, raw_amount: object) -> external.Held:
    """Build the unsigned top-up of ``asset`` from ``payer`` to the agent.

    Raises:
        PolicyDenied: Bad asset or amount.
        InsufficientFunds: The wallet holds less than the amount.
    """
    if asset not in ASSETS:
        raise PolicyDenied(f"asset: one of {', '.join(ASSETS)}, not {asset!r}"[:200])
    mint = ctx.mints[asset]
    program, decimals = io.rpc(ctx, lambda c: c.mint_info(mint))
    amount = parse_amount(raw_amount, decimals)
    held = io.rpc(ctx, lambda c: c.token_balance(payer, asset))
    if held < amount:
        raise InsufficientFunds(f"the wallet {payer} holds {held} {asset}, less than {amount}")
    owner, agent = Pubkey.from_string(payer), Pubkey.from_string(ctx.address)
    mint_key, token_program = Pubkey.from_string(mint), Pubkey.from_string(program)
    dest = associated_account(agent, mint_key, token_program)
    instructions = []
    if io.rpc(ctx, lambda c: c.account_owner(str(dest))) is None:
        instructions.append(create_account(owner, agent, mint_key, token_program))
    atomic = int(amount.scaleb(decimals))
    instructions.append(transfer(owner, agent, mint_key, token_program, atomic, decimals))
    blockhash, _ = io.rpc(ctx, lambda c: c.latest_blockhash())
    message = MessageV0.try_compile(owner, instructions, [], Hash.from_string(blockhash))
    facts = {"asset": asset, "amount": str(amount), "agent": ctx.address, "mint": mint}
    return external.Held(KIND, payer, external.unsigned(message), facts)


def submit(ctx: AgentContext, held: external.Held, signed_b64: object) -> ToppedUp:
    """Send the wallet's signed top-up, wait for it, record it, refresh the balance.

    Raises:
        PolicyDenied: ``held`` is not a top-up of this agent.
        SignatureInvalid: Not the transaction built, or not signed by the wallet.
        AgentError: The RPC refused it (e.g. the wallet's funds are gone).
        SettlementPending: Not confirmed within CONFIRM_S.
    """
    if held.kind != KIND or held.facts.get("agent") != ctx.address:
        raise PolicyDenied(f"not a top-up of {ctx.address}")
    signed = external.accept(held, signed_b64)
    signature = io.rpc(ctx, lambda c: c.send_transaction(base64.b64encode(bytes(signed)).decode()))
    _wait_confirmed(ctx, signature)
    asset, amount = held.facts["asset"], Decimal(held.facts["amount"])
    topups.record(
        ctx.session(),
        ctx.agent_id,
        payer=held.payer,
        signature=signature,
        asset=asset,
        amount=amount,
        to=ctx.address,
        actor=f"wallet:{held.payer}",
    )
    read = guard.refresh(ctx)
    paused = read.of(asset) < ctx.threshold
    return ToppedUp(signature, asset, amount, read.of(asset), paused)


def _wait_confirmed(ctx: AgentContext, signature: str) -> None:
    deadline = time.monotonic() + CONFIRM_S
    while time.monotonic() < deadline:
        try:
            if io.rpc(ctx, lambda c: c.status(signature)) in ("confirmed", "finalized"):
                return
        except AgentError:
            pass  # an RPC hiccup: ask again
        time.sleep(0.2)
    raise SettlementPending(f"top-up {signature} not confirmed within {CONFIRM_S:.0f} s")
