"""getTransaction in the binary encodings: the stored wire bytes, the version read from them."""

from __future__ import annotations

import base64
import json
from typing import Any

import base58
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from harness.chain import Chain
from harness.faucet import fund
from harness.faults import FaultInjector
from harness.jsonrpc import Dispatcher


@pytest.fixture(scope="module")
def landed() -> tuple[Dispatcher, dict[str, VersionedTransaction]]:
    chain = Chain(slot_ms=0)
    chain.create_genesis(Keypair().pubkey())
    payer = Keypair()
    fund(chain, str(payer.pubkey()), sol="1")
    blockhash = Hash.from_string(chain.clock.latest_blockhash()[0])
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1))
    other = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=2)
    )
    txs = {
        "legacy": VersionedTransaction(
            Message.new_with_blockhash([ix], payer.pubkey(), blockhash), [payer]
        ),
        "v0": VersionedTransaction(
            MessageV0.try_compile(payer.pubkey(), [other], [], blockhash), [payer]
        ),
    }
    for tx in txs.values():
        chain.send(tx, False)
    chain.clock.advance(2)
    return Dispatcher(chain, FaultInjector()), txs


def _get(dispatcher: Dispatcher, tx: VersionedTransaction, options: dict[str, Any]) -> dict:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTransaction",
        "params": [str(tx.signatures[0]), {"commitment": "confirmed", **options}],
    }
    return json.loads(dispatcher.handle_body(json.dumps(request).encode()))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("kind", "version"), [("legacy", "legacy"), ("v0", 0)])
def test_binary_answers_are_the_wire_bytes(
    landed: tuple[Dispatcher, dict[str, VersionedTransaction]], kind: str, version: Any
) -> None:
    dispatcher, txs = landed
    tx = txs[kind]
    as_json = _get(dispatcher, tx, {"encoding": "json", "maxSupportedTransactionVersion": 0})
    for encoding, decode in (("base64", base64.b64decode), ("base58", base58.b58decode)):
        options = {"encoding": encoding, "maxSupportedTransactionVersion": 0}
        answer = _get(dispatcher, tx, options)["result"]
        data, named = answer["transaction"]
        assert named == encoding and decode(data) == bytes(tx)
        assert answer["version"] == version
        assert answer["meta"] == as_json["result"]["meta"]
        assert answer["slot"] == as_json["result"]["slot"]


def test_a_v0_transaction_needs_the_version_option_in_binary_too(
    landed: tuple[Dispatcher, dict[str, VersionedTransaction]],
) -> None:
    dispatcher, txs = landed
    assert _get(dispatcher, txs["v0"], {"encoding": "base64"})["error"]["code"] == -32015
    legacy = _get(dispatcher, txs["legacy"], {"encoding": "base64"})["result"]
    assert "version" not in legacy and legacy["transaction"][1] == "base64"
