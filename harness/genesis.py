"""The harness's genesis: mints, authorities and their fixed addresses.

Devnet USDC lives at its real Devnet address with the classic Token program and 6
decimals, matching the x402 SDK's asset table. Phantom CASH has no Devnet mint, so the
harness creates a Token-2022, 6-decimal stand-in at ``CASH_MINT``, an address derived
from a fixed seed (``sha256(b"autopay-harness/cash-mint/v0")``) so it is the same on
every machine and every run. The harness holds both mint authorities through one
authority keypair, also derived from a fixed seed; it is meaningful only on the local
network, where it also pays for faucet transactions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from harness import tokens

USDC_MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
USDC_DECIMALS = 6
CASH_MINT_SEED = b"autopay-harness/cash-mint/v0"
CASH_MINT = "9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo"
CASH_DECIMALS = 6
CASH_MAINNET_MINT = "CASHx9KJUStyftLFWGvEVf59SGeG9sh5FfcnZMVPCASH"
AUTHORITY_SEED = b"autopay-harness/authority/v0"
DEVNET_GENESIS_HASH = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
LAMPORTS_PER_SOL = 1_000_000_000
AUTHORITY_LAMPORTS = 500_000_000 * LAMPORTS_PER_SOL
FEE_PAYER_LAMPORTS = 1_000 * LAMPORTS_PER_SOL


@dataclass(frozen=True)
class MintSpec:
    """One genesis mint.

    Attributes:
        symbol: Short name (``usdc``, ``cash``), also the faucet's field name.
        address: The mint address.
        decimals: Token decimals.
        program: Owning token program.
    """

    symbol: str
    address: Pubkey
    decimals: int
    program: Pubkey


MINTS: tuple[MintSpec, ...] = (
    MintSpec("usdc", Pubkey.from_string(USDC_MINT), USDC_DECIMALS, tokens.TOKEN_PROGRAM_ID),
    MintSpec("cash", Pubkey.from_string(CASH_MINT), CASH_DECIMALS, tokens.TOKEN_2022_PROGRAM_ID),
)


def mint_spec(symbol: str) -> MintSpec:
    """Look a genesis mint up by symbol."""
    for spec in MINTS:
        if spec.symbol == symbol:
            return spec
    raise KeyError(symbol)


def seeded_keypair(seed: bytes) -> Keypair:
    """Derive a keypair from a fixed seed string."""
    return Keypair.from_seed(hashlib.sha256(seed).digest())


def authority_keypair() -> Keypair:
    """The keypair holding both mint authorities and the faucet's lamports."""
    return seeded_keypair(AUTHORITY_SEED)


def mint_account(spec: MintSpec, authority: Pubkey, rent_exempt: int) -> Account:
    """Build the on-chain account of a genesis mint with zero supply."""
    state = tokens.MintState(
        mint_authority=authority,
        supply=0,
        decimals=spec.decimals,
        is_initialized=True,
        freeze_authority=None,
    )
    return Account(rent_exempt, tokens.pack_mint(state), spec.program, False, 0)
