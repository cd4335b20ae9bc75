"""Transfers land and move balances exactly; bad transactions are refused like a node."""

from __future__ import annotations

import pytest
from solana.rpc.api import Client
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.types import TxOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from harness import genesis
from harness.testing import HarnessInfo
from harness.tokens import TOKEN_PROGRAM_ID, associated_token_address, transfer_checked

USDC = Pubkey.from_string(genesis.USDC_MINT)


def signed(client: Client, payer: Keypair, instructions: list, blockhash=None):
    blockhash = blockhash or client.get_latest_blockhash().value.blockhash
    message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
    return VersionedTransaction(message, [payer])


def usdc_transfer(sender: Keypair, recipient: Pubkey, amount: int):
    source = associated_token_address(sender.pubkey(), USDC, TOKEN_PROGRAM_ID)
    dest = associated_token_address(recipient, USDC, TOKEN_PROGRAM_ID)
    return transfer_checked(source, USDC, dest, sender.pubkey(), amount, 6, TOKEN_PROGRAM_ID)


def test_sol_transfer_moves_exact_lamports(client: Client, funded: Keypair) -> None:
    to = Keypair().pubkey()
    before = client.get_balance(funded.pubkey()).value
    ix = transfer(TransferParams(from_pubkey=funded.pubkey(), to_pubkey=to, lamports=123_456))
    sig = client.send_transaction(signed(client, funded, [ix])).value
    assert client.get_balance(to).value == 123_456
    assert client.get_balance(funded.pubkey()).value == before - 123_456 - 5000
    meta = client.get_transaction(sig, commitment=Confirmed).value.transaction.meta
    assert meta.err is None and meta.fee == 5000


def test_usdc_transfer_moves_exact_units(
    client: Client, harness: HarnessInfo, funded: Keypair
) -> None:
    recipient = Keypair().pubkey()
    harness.fund(str(recipient), usdc="0")
    tx = signed(client, funded, [usdc_transfer(funded, recipient, 1_234_567)])
    sig = client.send_transaction(tx).value
    dest = associated_token_address(recipient, USDC, TOKEN_PROGRAM_ID)
    source = associated_token_address(funded.pubkey(), USDC, TOKEN_PROGRAM_ID)
    assert client.get_token_account_balance(dest).value.amount == "1234567"
    assert client.get_token_account_balance(source).value.amount == str(100_000_000 - 1_234_567)
    meta = client.get_transaction(sig, commitment=Confirmed).value.transaction.meta
    pre = {b.account_index: int(b.ui_token_amount.amount) for b in meta.pre_token_balances}
    post = {b.account_index: int(b.ui_token_amount.amount) for b in meta.post_token_balances}
    assert sum(post.values()) == sum(pre.values())
    assert sorted(post[i] - pre[i] for i in pre) == [-1_234_567, 1_234_567]


def test_forged_signature_is_refused(client: Client, funded: Keypair) -> None:
    tx = signed(
        client,
        funded,
        [
            transfer(
                TransferParams(
                    from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1
                )
            )
        ],
    )
    forged = VersionedTransaction.populate(tx.message, [Signature(bytes(64))])
    with pytest.raises(RPCException) as caught:
        client.send_raw_transaction(bytes(forged))
    assert "TransactionSignatureVerificationFailure" in str(caught.value)


def test_expired_blockhash_is_refused(
    client: Client, harness: HarnessInfo, funded: Keypair
) -> None:
    old = client.get_latest_blockhash().value
    harness.advance_slots(151)
    tx = signed(
        client,
        funded,
        [
            transfer(
                TransferParams(
                    from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1
                )
            )
        ],
        old.blockhash,
    )
    with pytest.raises(RPCException) as caught:
        client.send_transaction(tx)
    assert "Blockhash not found" in str(caught.value)
    assert client.get_block_height().value > old.last_valid_block_height
    sig = client.send_transaction(tx, opts=TxOpts(skip_preflight=True)).value
    assert client.get_signature_statuses([sig]).value[0] is None


def test_insufficient_balance_is_refused(client: Client, funded: Keypair) -> None:
    tx = signed(client, funded, [usdc_transfer(funded, Keypair().pubkey(), 10**12)])
    harness_err = None
    with pytest.raises(RPCException) as caught:
        client.send_transaction(tx)
    harness_err = caught.value.args[0]
    assert "Transaction simulation failed" in harness_err.message
    assert harness_err.data.logs
    assert client.get_signature_statuses([tx.signatures[0]]).value[0] is None


def test_replay_is_refused(client: Client, funded: Keypair) -> None:
    tx = signed(
        client,
        funded,
        [
            transfer(
                TransferParams(
                    from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=5
                )
            )
        ],
    )
    client.send_transaction(tx)
    with pytest.raises(RPCException) as caught:
        client.send_transaction(tx)
    assert "already been processed" in str(caught.value)


def test_commitment_progression(client: Client, harness: HarnessInfo, funded: Keypair) -> None:
    tx = signed(
        client,
        funded,
        [
            transfer(
                TransferParams(
                    from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=5
                )
            )
        ],
    )
    sig = client.send_transaction(tx).value
    assert client.get_transaction(sig, commitment=Confirmed).value is not None
    assert client.get_transaction(sig).value is None  # finalized is the default
    status = client.get_signature_statuses([sig]).value[0]
    assert str(status.confirmation_status) in ("TransactionConfirmationStatus.Confirmed",)
    harness.advance_slots(32)
    status = client.get_signature_statuses([sig]).value[0]
    assert str(status.confirmation_status) == "TransactionConfirmationStatus.Finalized"
    assert status.confirmations is None
    assert client.get_transaction(sig).value is not None
