"""Each fault mode does what it says, deterministically under a seed."""

from __future__ import annotations

import time

import pytest
import requests
from solana.rpc.api import Client
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from harness.testing import HarnessInfo


@pytest.fixture(autouse=True)
def _clear(harness: HarnessInfo):
    yield
    harness.clear_faults()


def call(harness: HarnessInfo, method: str, params: list | None = None, timeout: float = 5):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    with requests.Session() as session:
        return session.post(harness.rpc_url, json=body, timeout=timeout)


def send_transfer(client: Client, payer: Keypair) -> str:
    blockhash = client.get_latest_blockhash().value.blockhash
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1)
    )
    tx = VersionedTransaction(Message.new_with_blockhash([ix], payer.pubkey(), blockhash), [payer])
    return client.send_transaction(tx).value


def test_delay(harness: HarnessInfo) -> None:
    harness.set_fault(method="getSlot", delay_ms=200)
    start = time.perf_counter()
    assert call(harness, "getSlot").json()["result"] >= 0
    assert time.perf_counter() - start >= 0.2
    assert call(harness, "getHealth").elapsed.total_seconds() < 0.2


def test_rpc_error(harness: HarnessInfo) -> None:
    harness.set_fault(method="getBalance", mode="rpc_error")
    answer = call(harness, "getBalance", [str(Keypair().pubkey())]).json()
    assert answer["error"]["code"] == -32005
    assert "result" in call(harness, "getSlot").json()


@pytest.mark.parametrize(("mode", "status"), [("http_500", 500), ("http_429", 429)])
def test_http_status(harness: HarnessInfo, mode: str, status: int) -> None:
    harness.set_fault(method="*", mode=mode)
    response = call(harness, "getSlot")
    assert response.status_code == status
    if status == 429:
        assert response.headers["Retry-After"] == "1"


def test_reset(harness: HarnessInfo) -> None:
    harness.set_fault(method="getSlot", mode="reset")
    with pytest.raises(requests.ConnectionError):
        call(harness, "getSlot")
    assert call(harness, "getHealth").json()["result"] == "ok"


def test_hang(harness: HarnessInfo) -> None:
    harness.set_fault(method="getSlot", mode="hang", hang_ms=2000)
    with pytest.raises(requests.Timeout):
        call(harness, "getSlot", timeout=0.3)
    assert call(harness, "getHealth").json()["result"] == "ok"


def test_drop_tx(harness: HarnessInfo, client: Client, funded: Keypair) -> None:
    before = client.get_balance(funded.pubkey()).value
    harness.set_fault(method="sendTransaction", mode="drop_tx")
    sig = send_transfer(client, funded)
    harness.advance_slots(5)
    assert client.get_signature_statuses([sig], True).value[0] is None
    assert client.get_balance(funded.pubkey()).value == before


def test_delay_confirmation(harness: HarnessInfo, client: Client, funded: Keypair) -> None:
    harness.set_fault(method="sendTransaction", mode="delay_confirmation", confirm_delay_slots=20)
    sig = send_transfer(client, funded)
    level = str(client.get_signature_statuses([sig]).value[0].confirmation_status)
    assert level.endswith("Processed")
    harness.advance_slots(21)
    level = str(client.get_signature_statuses([sig]).value[0].confirmation_status)
    assert level.endswith("Confirmed")


def _pattern(harness: HarnessInfo, seed: int) -> list[bool]:
    harness.set_fault(method="getSlot", mode="rpc_error", error_rate=0.5, seed=seed)
    return ["error" in call(harness, "getSlot").json() for _ in range(20)]


def test_seeded_faults_are_deterministic(harness: HarnessInfo) -> None:
    first = _pattern(harness, 7)
    assert first == _pattern(harness, 7)
    assert 0 < sum(first) < 20
    rule = harness.state()["faults"][0]
    assert (rule["calls"], rule["injected"]) == (20, sum(first))


def test_facilitator_faults(harness: HarnessInfo) -> None:
    harness.set_fault(method="facilitator.verify", mode="http_500")
    with requests.Session() as session:
        url = harness.facilitator_url
        assert session.post(url + "/verify", json={}, timeout=5).status_code == 500
        assert session.get(url + "/supported", timeout=5).status_code == 200
        harness.set_fault(method="facilitator.*", mode="http_429")
        assert session.get(url + "/supported", timeout=5).status_code == 429
        harness.clear_faults()
        assert session.post(url + "/settle", json={}, timeout=5).status_code == 400


def test_bad_fault_spec_is_refused(harness: HarnessInfo) -> None:
    with requests.Session() as session:
        url = harness.rpc_url + "/_harness/faults"
        assert session.post(url, json={"method": "x", "mode": "nope"}, timeout=5).status_code == 400
        assert session.post(url, data=b"{", timeout=5).status_code == 400
