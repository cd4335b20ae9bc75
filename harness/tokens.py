"""SPL Token and Token-2022 account layouts and the few instructions the harness builds.

Only the fixed-size base layouts are read (mint: 82 bytes, token account: 165 bytes);
Token-2022 extension data after them is ignored, which is all the RPC's jsonParsed
views and token balances need.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)

MINT_LEN = 82
ACCOUNT_LEN = 165
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2
_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


@dataclass(frozen=True)
class MintState:
    """The base fields of a mint account."""

    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None


@dataclass(frozen=True)
class TokenAccountState:
    """The base fields of a token account."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int
    is_native: int | None
    delegated_amount: int
    close_authority: Pubkey | None


def _coption_key(data: bytes, offset: int) -> Pubkey | None:
    (tag,) = struct.unpack_from("<I", data, offset)
    return Pubkey.from_bytes(data[offset + 4 : offset + 36]) if tag else None


def _pack_coption_key(key: Pubkey | None) -> bytes:
    return struct.pack("<I", 1) + bytes(key) if key else bytes(36)


def is_mint(owner: Pubkey, data: bytes) -> bool:
    """Tell whether account data owned by ``owner`` is a token mint."""
    if owner not in TOKEN_PROGRAMS:
        return False
    if len(data) == MINT_LEN:
        return True
    return owner == TOKEN_2022_PROGRAM_ID and len(data) > ACCOUNT_LEN and data[ACCOUNT_LEN] == 1


def is_token_account(owner: Pubkey, data: bytes) -> bool:
    """Tell whether account data owned by ``owner`` is a token account."""
    if owner not in TOKEN_PROGRAMS:
        return False
    if len(data) == ACCOUNT_LEN:
        return True
    return (
        owner == TOKEN_2022_PROGRAM_ID
        and len(data) > ACCOUNT_LEN
        and data[ACCOUNT_LEN] == _ACCOUNT_TYPE_ACCOUNT
    )


def unpack_mint(data: bytes) -> MintState:
    """Decode the base mint layout."""
    supply, decimals, initialized = struct.unpack_from("<QB?", data, 36)
    return MintState(
        mint_authority=_coption_key(data, 0),
        supply=supply,
        decimals=decimals,
        is_initialized=initialized,
        freeze_authority=_coption_key(data, 46),
    )


def pack_mint(mint: MintState) -> bytes:
    """Encode the base mint layout (82 bytes)."""
    return (
        _pack_coption_key(mint.mint_authority)
        + struct.pack("<QB?", mint.supply, mint.decimals, mint.is_initialized)
        + _pack_coption_key(mint.freeze_authority)
    )


def unpack_token_account(data: bytes) -> TokenAccountState:
    """Decode the base token account layout."""
    (amount,) = struct.unpack_from("<Q", data, 64)
    (native_tag, native) = struct.unpack_from("<IQ", data, 109)
    return TokenAccountState(
        mint=Pubkey.from_bytes(data[0:32]),
        owner=Pubkey.from_bytes(data[32:64]),
        amount=amount,
        delegate=_coption_key(data, 72),
        state=data[108],
        is_native=native if native_tag else None,
        delegated_amount=struct.unpack_from("<Q", data, 121)[0],
        close_authority=_coption_key(data, 129),
    )


def ui_token_amount(amount: int, decimals: int) -> dict:
    """Build the RPC's ``UiTokenAmount`` object."""
    text = format(Decimal(amount).scaleb(-decimals).normalize(), "f") if amount else "0"
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(text),
        "uiAmountString": text,
    }


def state_name(state: int) -> str:
    """Name of a token account state as the jsonParsed view spells it."""
    return _STATES.get(state, "uninitialized")


def associated_token_address(owner: Pubkey, mint: Pubkey, program: Pubkey) -> Pubkey:
    """Derive the associated token account of ``owner`` for ``mint``."""
    return get_associated_token_address(owner, mint, program)


def create_ata_idempotent(
    payer: Pubkey, owner: Pubkey, mint: Pubkey, program: Pubkey
) -> Instruction:
    """Build CreateIdempotent of the Associated Token Account program."""
    ata = associated_token_address(owner, mint, program)
    metas = [
        AccountMeta(payer, True, True),
        AccountMeta(ata, False, True),
        AccountMeta(owner, False, False),
        AccountMeta(mint, False, False),
        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
        AccountMeta(program, False, False),
    ]
    return Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, bytes([1]), metas)


def mint_to_checked(
    mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int, decimals: int, program: Pubkey
) -> Instruction:
    """Build MintToChecked (instruction 14)."""
    metas = [
        AccountMeta(mint, False, True),
        AccountMeta(dest, False, True),
        AccountMeta(authority, True, False),
    ]
    return Instruction(program, struct.pack("<BQB", 14, amount, decimals), metas)


def transfer_checked(
    source: Pubkey,
    mint: Pubkey,
    dest: Pubkey,
    owner: Pubkey,
    amount: int,
    decimals: int,
    program: Pubkey,
) -> Instruction:
    """Build TransferChecked (instruction 12)."""
    metas = [
        AccountMeta(source, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(dest, False, True),
        AccountMeta(owner, True, False),
    ]
    return Instruction(program, struct.pack("<BQB", 12, amount, decimals), metas)
