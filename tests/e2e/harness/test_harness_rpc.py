"""solana-py's Client drives every listed method and gets a real node's shapes."""

from __future__ import annotations

import base64

import requests
from solana.rpc.api import Client
from solana.rpc.commitment import Confirmed
from solana.rpc.types import TokenAccountOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import GetTransactionResp
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from harness import genesis
from harness.testing import HarnessInfo
from harness.tokens import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, associated_token_address

USDC = Pubkey.from_string(genesis.USDC_MINT)
CASH = Pubkey.from_string(genesis.CASH_MINT)


def raw_rpc(client: Client, method: str, params: list) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    with requests.Session() as session:
        return session.post(client._provider.endpoint_uri, json=body, timeout=10).json()


def test_cluster_methods(client: Client) -> None:
    assert client.is_connected()
    assert client.get_version().value.solana_core
    slot = client.get_slot().value
    assert client.get_block_height().value >= slot
    assert client.get_minimum_balance_for_rent_exemption(165).value == 2_039_280
    assert str(client.get_genesis_hash().value) == genesis.DEVNET_GENESIS_HASH
    latest = client.get_latest_blockhash().value
    assert latest.last_valid_block_height > slot
    valid = raw_rpc(client, "isBlockhashValid", [str(latest.blockhash)])
    assert valid["result"]["value"] is True
    assert raw_rpc(client, "getHealth", [])["result"] == "ok"
    assert client.get_epoch_info().value.absolute_slot >= slot


def test_fee_for_message(client: Client, funded: Keypair) -> None:
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(
        TransferParams(from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1)
    )
    message = Message.new_with_blockhash([ix], funded.pubkey(), blockhash)
    assert client.get_fee_for_message(message).value == 5000


def test_mints_in_genesis(client: Client, harness: HarnessInfo) -> None:
    usdc = client.get_account_info_json_parsed(USDC).value
    assert usdc.owner == TOKEN_PROGRAM_ID
    assert usdc.data.parsed["info"]["decimals"] == 6
    cash = client.get_account_info(CASH).value
    assert cash.owner == TOKEN_2022_PROGRAM_ID
    assert str(TOKEN_2022_PROGRAM_ID) == harness.cash_token_program
    assert client.get_token_supply(USDC).value.decimals == 6


def test_token_account_methods(client: Client, funded: Keypair) -> None:
    owner = funded.pubkey()
    ata = associated_token_address(owner, USDC, TOKEN_PROGRAM_ID)
    balance = client.get_token_account_balance(ata).value
    assert (balance.amount, balance.ui_amount_string) == ("100000000", "100")
    by_mint = client.get_token_accounts_by_owner_json_parsed(owner, TokenAccountOpts(mint=USDC))
    assert [a.pubkey for a in by_mint.value] == [ata]
    info = by_mint.value[0].account.data.parsed["info"]
    assert (info["owner"], info["tokenAmount"]["amount"]) == (str(owner), "100000000")
    by_program = client.get_token_accounts_by_owner(
        owner, TokenAccountOpts(program_id=TOKEN_2022_PROGRAM_ID)
    )
    cash_ata = associated_token_address(owner, CASH, TOKEN_2022_PROGRAM_ID)
    assert [a.pubkey for a in by_program.value] == [cash_ata]
    many = client.get_multiple_accounts([ata, Keypair().pubkey(), cash_ata]).value
    assert many[0] is not None and many[1] is None and many[2].owner == TOKEN_2022_PROGRAM_ID
    parsed = client.get_multiple_accounts_json_parsed([cash_ata]).value[0]
    assert parsed.data.parsed["info"]["tokenAmount"]["uiAmountString"] == "50"


def test_airdrop_and_history(client: Client) -> None:
    who = Keypair().pubkey()
    sig = client.request_airdrop(who, 3 * 10**9).value
    status = client.get_signature_statuses([sig], search_transaction_history=True).value[0]
    assert status is not None and status.err is None
    assert client.get_balance(who).value == 3 * 10**9
    tx = client.get_transaction(sig, commitment=Confirmed).value
    assert tx.transaction.meta.post_balances[1] - tx.transaction.meta.pre_balances[1] == 3 * 10**9
    assert tx.transaction.meta.fee == 5000
    assert tx.transaction.meta.log_messages
    parsed = client.get_transaction(sig, "jsonParsed", Confirmed).value
    ix = parsed.transaction.transaction.message.instructions[0]
    assert ix.parsed["type"] == "transfer" and ix.parsed["info"]["lamports"] == 3 * 10**9
    sigs = client.get_signatures_for_address(who, commitment=Confirmed).value
    assert [s.signature for s in sigs] == [sig]


def test_simulate_transaction(client: Client, funded: Keypair) -> None:
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(
        TransferParams(from_pubkey=funded.pubkey(), to_pubkey=Keypair().pubkey(), lamports=7)
    )
    tx = VersionedTransaction(
        Message.new_with_blockhash([ix], funded.pubkey(), blockhash), [funded]
    )
    result = client.simulate_transaction(tx, sig_verify=True).value
    assert result.err is None and result.units_consumed > 0 and result.logs
    replaced = client.simulate_transaction(tx, replace_recent_blockhash=True).value
    assert replaced.err is None and replaced.replacement_blockhash is not None


def test_raw_transaction_base64_roundtrip(client: Client, harness: HarnessInfo) -> None:
    payer = Keypair()
    harness.fund(str(payer.pubkey()), sol="1")
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=9)
    )
    tx = VersionedTransaction(Message.new_with_blockhash([ix], payer.pubkey(), blockhash), [payer])
    sig = client.send_raw_transaction(bytes(tx)).value
    resp = client.get_transaction(sig, "base64", Confirmed, max_supported_transaction_version=0)
    assert isinstance(resp, GetTransactionResp)
    assert resp.value.transaction.version is not None
    raw = resp.value.transaction.transaction
    assert bytes(raw) == bytes(tx) or base64.b64encode(bytes(tx))
