"""``python -m harness bench``: RPC throughput over HTTP against LiteSVM in-process.

Measures sendTransaction of SPL TransferChecked transactions and getBalance calls:
over HTTP against a harness subprocess (sequentially, and with N concurrent clients),
and the same operations in-process, on the harness's chain object and on bare LiteSVM.
Transactions are built and signed before the clock starts, so only the network's cost
is measured. The HTTP/LiteSVM ratio is the HTTP overhead.
"""

from __future__ import annotations

import base64
import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from harness import genesis, tokens
from harness.chain import Chain
from harness.faucet import fund
from harness.faults import FaultInjector
from harness.jsonrpc import Dispatcher
from harness.testing import run_harness

USDC = genesis.mint_spec("usdc")


def build_transfers(sender: Keypair, recipient: Pubkey, blockhash: Hash, count: int, start: int):
    """Sign ``count`` distinct USDC transfers (amounts differ, so signatures differ)."""
    source = tokens.associated_token_address(sender.pubkey(), USDC.address, USDC.program)
    dest = tokens.associated_token_address(recipient, USDC.address, USDC.program)
    txs = []
    for amount in range(start, start + count):
        ix = tokens.transfer_checked(
            source, USDC.address, dest, sender.pubkey(), amount, USDC.decimals, USDC.program
        )
        message = Message.new_with_blockhash([ix], sender.pubkey(), blockhash)
        txs.append(VersionedTransaction(message, [sender]))
    return txs


def _rate(count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


class HttpClient:
    """A minimal keep-alive JSON-RPC client (pre-encoded bodies, one connection)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )

    def call(self, body: bytes) -> dict:
        self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(self.conn.getresponse().read())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer


def _bodies_send(txs) -> list[bytes]:
    return [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "sendTransaction",
                "params": [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}],
            }
        ).encode()
        for tx in txs
    ]


def _http_rate(url: str, bodies: list[bytes], clients: int) -> float:
    chunks = [bodies[i::clients] for i in range(clients)]
    conns = [HttpClient(url) for _ in range(clients)]

    def worker(conn: HttpClient, chunk: list[bytes]) -> None:
        for body in chunk:
            conn.call(body)

    def run() -> None:
        threads = [
            threading.Thread(target=worker, args=(c, ch))
            for c, ch in zip(conns, chunks, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    rate = _rate(len(bodies), run)
    for conn in conns:
        conn.conn.close()
    return rate


def bench_http(count: int, clients: int) -> dict[str, float]:
    """Run the HTTP rows against a harness subprocess."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp, run_harness(Path(tmp), slot_ms=400) as harness:
        sender, recipient = Keypair(), Keypair().pubkey()
        harness.fund(str(sender.pubkey()), sol="10", usdc="1000000")
        harness.fund(str(recipient), usdc="0")
        probe = HttpClient(harness.rpc_url)
        latest = probe.call(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getLatestBlockhash"}).encode()
        )
        blockhash = Hash.from_string(latest["result"]["value"]["blockhash"])
        probe.conn.close()
        balance = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [str(sender.pubkey())]}
        ).encode()
        results["getBalance HTTP, 1 client"] = _http_rate(harness.rpc_url, [balance] * count * 2, 1)
        results[f"getBalance HTTP, {clients} clients"] = _http_rate(
            harness.rpc_url, [balance] * count * 2, clients
        )
        seq = _bodies_send(build_transfers(sender, recipient, blockhash, count, 1))
        par = _bodies_send(build_transfers(sender, recipient, blockhash, count, count + 1))
        results["SPL transfer HTTP, 1 client"] = _http_rate(harness.rpc_url, seq, 1)
        results[f"SPL transfer HTTP, {clients} clients"] = _http_rate(harness.rpc_url, par, clients)
    return results


def bench_in_process(count: int) -> dict[str, float]:
    """Run the in-process rows: the harness chain object, and bare LiteSVM."""
    chain = Chain(slot_ms=400)
    fee_payer = Keypair()
    chain.create_genesis(fee_payer.pubkey())
    sender, recipient = Keypair(), Keypair().pubkey()
    fund(chain, str(sender.pubkey()), sol="10", usdc="1000000")
    fund(chain, str(recipient), usdc="0")
    blockhash = Hash.from_string(chain.clock.latest_blockhash()[0])
    txs = build_transfers(sender, recipient, blockhash, count, 1)
    raw_txs = build_transfers(sender, recipient, blockhash, count, count + 1)
    rpc_txs = _bodies_send(build_transfers(sender, recipient, blockhash, count, 2 * count + 1))
    svm: LiteSVM = chain.svm
    key = sender.pubkey()
    dispatcher = Dispatcher(chain, FaultInjector())
    balance = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [str(key)]}
    ).encode()
    return {
        "getBalance JSON-RPC in-process": _rate(
            count * 2, lambda: [dispatcher.handle_body(balance) for _ in range(count * 2)]
        ),
        "SPL transfer JSON-RPC in-process": _rate(
            count, lambda: [dispatcher.handle_body(body) for body in rpc_txs]
        ),
        "getBalance chain in-process": _rate(
            count * 2, lambda: [chain.get_balance(key) for _ in range(count * 2)]
        ),
        "getBalance LiteSVM in-process": _rate(
            count * 2, lambda: [svm.get_balance(key) for _ in range(count * 2)]
        ),
        "SPL transfer chain in-process": _rate(
            count, lambda: [chain.send(tx, False) for tx in txs]
        ),
        "SPL transfer LiteSVM in-process": _rate(
            count, lambda: [svm.send_transaction(tx) for tx in raw_txs]
        ),
    }


def run_bench(count: int = 1500, clients: int = 8) -> dict[str, float]:
    """Run every row and print the table; return the figures (per second)."""
    rows = {**bench_http(count, clients), **bench_in_process(count)}
    width = max(len(name) for name in rows)
    print(f"{'operation'.ljust(width)}  {'per second':>12}")
    for name, rate in rows.items():
        print(f"{name.ljust(width)}  {rate:12,.0f}")
    for label in ("getBalance", "SPL transfer"):
        http_rate = rows[f"{label} HTTP, 1 client"]
        print(
            f"{label}: HTTP overhead (JSON-RPC in-process / HTTP): "
            f"{rows[f'{label} JSON-RPC in-process'] / http_rate:.1f}x; "
            f"bare LiteSVM / HTTP: {rows[f'{label} LiteSVM in-process'] / http_rate:.1f}x"
        )
    return rows
