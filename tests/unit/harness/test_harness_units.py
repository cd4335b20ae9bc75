"""Unit tests of the harness's pure parts and its in-process JSON-RPC dispatcher."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair

from harness import genesis, tokens
from harness.chain import Chain
from harness.clock import BLOCKHASH_VALID_SLOTS, SlotClock
from harness.errors import FundError
from harness.faucet import fund, to_atomic
from harness.faults import FaultInjector, FaultSpecError
from harness.jsonrpc import Dispatcher
from harness.records import error_text


def test_cash_mint_is_derived_from_its_seed() -> None:
    assert str(genesis.seeded_keypair(genesis.CASH_MINT_SEED).pubkey()) == genesis.CASH_MINT


@pytest.mark.parametrize(
    ("amount", "text", "ui"),
    [(0, "0", 0.0), (10_000_000, "10", 10.0), (1_500_001, "1.500001", 1.500001)],
)
def test_ui_token_amount(amount: int, text: str, ui: float) -> None:
    rendered = tokens.ui_token_amount(amount, 6)
    assert (rendered["uiAmountString"], rendered["uiAmount"], rendered["amount"]) == (
        text,
        ui,
        str(amount),
    )


def test_to_atomic_is_exact() -> None:
    assert to_atomic("0.000001", 6, tokens_limit(), "usdc") == 1
    assert to_atomic(2, 9, tokens_limit(), "sol") == 2_000_000_000
    for bad in ("-1", "0.0000001", "nan", "abc", True, None):
        with pytest.raises(FundError):
            to_atomic(bad, 6, tokens_limit(), "usdc")


def tokens_limit():
    from decimal import Decimal

    return Decimal(10**12)


def test_clock_blockhash_window() -> None:
    clock = SlotClock(0, 0, b"n", 0.0)
    blockhash, last_valid, _ = clock.latest_blockhash()
    assert last_valid == BLOCKHASH_VALID_SLOTS
    clock.advance(BLOCKHASH_VALID_SLOTS)
    assert clock.is_blockhash_valid(blockhash)
    clock.tick()
    assert not clock.is_blockhash_valid(blockhash)
    assert not clock.is_blockhash_valid("11111111111111111111111111111111")


def test_error_text_matches_node_wording() -> None:
    assert error_text({"InstructionError": [0, {"Custom": 1}]}) == (
        "Error processing Instruction 0: custom program error: 0x1"
    )
    assert error_text("BlockhashNotFound") == "Blockhash not found"


def test_fault_rules_validate_and_are_seeded() -> None:
    faults = FaultInjector()
    with pytest.raises(FaultSpecError):
        faults.set({"method": "getSlot", "mode": "explode"})
    with pytest.raises(FaultSpecError):
        faults.set({"method": "getSlot", "error_rate": 2})
    faults.set({"method": "*", "mode": "rpc_error", "error_rate": 0.5, "seed": 1})
    first = [faults.decide("getSlot").mode for _ in range(30)]
    faults.set({"method": "*", "mode": "rpc_error", "error_rate": 0.5, "seed": 1})
    assert first == [faults.decide("getBalance").mode for _ in range(30)]
    assert faults.decide("facilitator.verify").mode is None


@pytest.fixture
def dispatcher() -> Dispatcher:
    chain = Chain(slot_ms=0)
    chain.create_genesis(Keypair().pubkey())
    return Dispatcher(chain, FaultInjector())


def ask(dispatcher: Dispatcher, method: str, params: list) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 9, "method": method, "params": params})
    return json.loads(dispatcher.handle_body(body.encode()))


def test_dispatcher_wraps_results_in_context(dispatcher: Dispatcher) -> None:
    answer = ask(dispatcher, "getBalance", [str(dispatcher.chain.authority.pubkey())])
    assert answer["id"] == 9
    assert answer["result"]["value"] == genesis.AUTHORITY_LAMPORTS
    assert answer["result"]["context"]["slot"] >= 1


def test_notifications_get_no_answer(dispatcher: Dispatcher) -> None:
    assert dispatcher.handle_body(b'{"jsonrpc": "2.0", "method": "getSlot"}') == b""


def test_in_process_fund_creates_token_accounts(dispatcher: Dispatcher) -> None:
    owner = Keypair().pubkey()
    result = fund(dispatcher.chain, str(owner), usdc="1.5", cash=0)
    assert (result["usdc"], result["cash"]) == ("1.5", "0")
    found = ask(
        dispatcher,
        "getTokenAccountsByOwner",
        [str(owner), {"programId": str(tokens.TOKEN_2022_PROGRAM_ID)}, {"encoding": "jsonParsed"}],
    )["result"]["value"]
    info = found[0]["account"]["data"]["parsed"]["info"]
    assert info["mint"] == genesis.CASH_MINT and info["extensions"] == [
        {"extension": "immutableOwner"}
    ]


def test_the_harness_state_lives_in_autopay_home_when_it_is_set(monkeypatch, tmp_path):
    from pathlib import Path

    from harness.cli import default_state_dir

    monkeypatch.setenv("AUTOPAY_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "harness-state"
    monkeypatch.delenv("AUTOPAY_HOME")
    assert default_state_dir() == Path(".autopay") / "harness-state"


def test_a_save_encodes_only_the_records_new_since_the_last(monkeypatch, tmp_path) -> None:
    from harness import state
    from harness.records import TxRecord

    chain = Chain(slot_ms=0)
    chain.create_genesis(Keypair().pubkey())
    fund(chain, str(Keypair().pubkey()), usdc="1")
    encoded: list[str] = []
    original = TxRecord.to_json

    def counting(record: TxRecord) -> dict:
        encoded.append(record.signature)
        return original(record)

    monkeypatch.setattr(TxRecord, "to_json", counting)
    cache = state.HistoryCache()
    state.save(chain, tmp_path, cache)
    first = len(encoded)
    assert first == len(chain.history) > 0
    fund(chain, str(Keypair().pubkey()), usdc="2")
    state.save(chain, tmp_path, cache)
    assert len(encoded) - first == len(chain.history) - first > 0
    saved = json.loads((tmp_path / state.CHAIN_FILE).read_text())
    assert saved == json.loads(json.dumps(state.snapshot(chain)))
    restored = Chain(slot_ms=0)
    assert state.restore(restored, tmp_path)
    assert list(restored.history) == list(chain.history)
