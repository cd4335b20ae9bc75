"""Strict checks on the buyer-signed transaction, without a chain."""

from __future__ import annotations

import base64

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mock_premium_api import strict

TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
USDC = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
CASH = "9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo"
SELLER = str(Keypair().pubkey())
FEE_PAYER = Keypair().pubkey()
BUYER = Keypair().pubkey()


def transfer_ix(amount, mint=USDC, owner=SELLER, program=TOKEN, decimals=6, dest=None):
    source = strict.associated_token_account(str(BUYER), mint, program)
    dest = dest or strict.associated_token_account(owner, mint, program)
    data = bytes([12]) + amount.to_bytes(8, "little") + bytes([decimals])
    accounts = [
        AccountMeta(Pubkey.from_string(source), False, True),
        AccountMeta(Pubkey.from_string(mint), False, False),
        AccountMeta(Pubkey.from_string(dest), False, True),
        AccountMeta(BUYER, True, False),
    ]
    return Instruction(Pubkey.from_string(program), data, accounts)


def make_tx(*transfers, fee_payer=FEE_PAYER, blockhash=None) -> VersionedTransaction:
    ixs = [set_compute_unit_limit(20_000), set_compute_unit_price(1), *transfers]
    message = MessageV0.try_compile(fee_payer, ixs, [], blockhash or Hash.new_unique())
    signers = message.header.num_required_signatures
    return VersionedTransaction.populate(message, [Signature.default()] * signers)


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


EXPECTED = strict.Expected(
    amount=10_000, mint=USDC, token_program=TOKEN, pay_to=SELLER, fee_payer=str(FEE_PAYER)
)


def test_exact_payment_passes_and_reports_the_transfer():
    tx = strict.decode_transaction(b64(make_tx(transfer_ix(10_000))))
    transfer = strict.check_transaction(tx, EXPECTED)
    assert transfer.amount == 10_000
    assert transfer.mint == USDC
    assert transfer.destination == strict.associated_token_account(SELLER, USDC, TOKEN)


def test_token_2022_payment_uses_its_own_ata():
    expected = strict.Expected(10_000, CASH, TOKEN_2022, SELLER, str(FEE_PAYER))
    tx = make_tx(transfer_ix(10_000, mint=CASH, program=TOKEN_2022))
    assert strict.check_transaction(tx, expected).token_program == TOKEN_2022


@pytest.mark.parametrize(
    ("ixs", "reason"),
    [
        ([transfer_ix(9_999)], strict.ERR_AMOUNT_INSUFFICIENT),
        ([transfer_ix(10_001)], strict.ERR_AMOUNT_EXCESSIVE),
        ([transfer_ix(10_000, mint=CASH)], strict.ERR_MINT),
        ([transfer_ix(10_000, owner=str(Keypair().pubkey()))], strict.ERR_RECIPIENT),
        ([transfer_ix(10_000, dest=str(Keypair().pubkey()))], strict.ERR_RECIPIENT),
        ([transfer_ix(10_000, program=TOKEN_2022)], strict.ERR_TOKEN_PROGRAM),
        ([transfer_ix(10_000, decimals=9)], strict.ERR_DECIMALS),
        ([transfer_ix(10_000), transfer_ix(10_000)], strict.ERR_MULTIPLE_TRANSFERS),
        ([], strict.ERR_NO_TRANSFER),
    ],
)
def test_each_broken_rule_has_its_reason(ixs, reason):
    with pytest.raises(strict.StrictCheckError) as excinfo:
        strict.check_transaction(make_tx(*ixs), EXPECTED)
    assert excinfo.value.reason == reason


def test_wrong_fee_payer_is_refused():
    tx = make_tx(transfer_ix(10_000), fee_payer=Keypair().pubkey())
    with pytest.raises(strict.StrictCheckError) as excinfo:
        strict.check_transaction(tx, EXPECTED)
    assert excinfo.value.reason == strict.ERR_FEE_PAYER


def test_non_transfer_checked_token_instruction_is_refused():
    ix = transfer_ix(10_000)
    plain_transfer = Instruction(ix.program_id, bytes([3]) + bytes(8), ix.accounts)
    with pytest.raises(strict.StrictCheckError) as excinfo:
        strict.check_transaction(make_tx(plain_transfer), EXPECTED)
    assert excinfo.value.reason == strict.ERR_NO_TRANSFER


@pytest.mark.parametrize("raw", ["***", base64.b64encode(b"not a transaction").decode()])
def test_undecodable_transaction(raw):
    with pytest.raises(strict.StrictCheckError) as excinfo:
        strict.decode_transaction(raw)
    assert excinfo.value.reason == strict.ERR_DECODE


def test_replay_key_ignores_the_fee_payer_signature_slot():
    tx = make_tx(transfer_ix(10_000))
    resigned = VersionedTransaction.populate(
        tx.message, [Signature.new_unique(), *tx.signatures[1:]]
    )
    assert strict.replay_key(tx) == strict.replay_key(resigned)
    assert strict.replay_key(tx) != strict.replay_key(make_tx(transfer_ix(10_000)))


OFFER = {"amount": "10000", "payTo": SELLER, "maxTimeoutSeconds": 60}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        ({"amount": "9999"}, strict.ERR_AMOUNT_INSUFFICIENT),
        ({"amount": "10001"}, strict.ERR_AMOUNT_EXCESSIVE),
        ({"amount": "ten"}, strict.ERR_AMOUNT_INSUFFICIENT),
        ({"payTo": str(Keypair().pubkey())}, strict.ERR_RECIPIENT),
        ({"maxTimeoutSeconds": 300}, strict.ERR_TIMEOUT),
    ],
)
def test_envelope_mismatch(change, reason):
    assert strict.envelope_mismatch({**OFFER, **change}, OFFER) == reason
