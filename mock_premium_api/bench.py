"""Benchmark: paid and unpaid requests through the real stack.

Starts a harness (``python -m harness serve``, a separate service reached
only through its command line and HTTP) and this API as subprocesses, funds
buyers through the harness faucet, then measures with the SDK's requests
client: sequential and concurrent paid requests (402 -> sign -> verify ->
handler -> settle -> 200), and the same for unpaid requests answered 402. The
difference is the cost of the payment path.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from solders.keypair import Keypair

from .testing import run_mock_api, start_process, stop_process
from .x402_setup import paying_session

HARNESS_READY = "HARNESS READY "
PATH = "/api/market-feed?symbols=SOL,BTC,ETH"
WARMUP = 5


@dataclass(frozen=True)
class Result:
    """One measured run."""

    name: str
    clients: int
    latencies: list[float]
    seconds: float
    failures: int

    def row(self) -> list[str]:
        """Table cells: name, clients, n, req/s, p50, p95, p99 (ms), failures."""
        ms = sorted(x * 1000 for x in self.latencies)
        return [
            self.name,
            str(self.clients),
            str(len(ms)),
            f"{len(ms) / self.seconds:.1f}",
            f"{_pct(ms, 50):.2f}",
            f"{_pct(ms, 95):.2f}",
            f"{_pct(ms, 99):.2f}",
            str(self.failures),
        ]


def _pct(sorted_ms: list[float], pct: int) -> float:
    if not sorted_ms:
        return float("nan")
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[pct - 1]


@contextmanager
def harness_process(state_dir: Path) -> Iterator[dict[str, Any]]:
    """Run ``python -m harness serve`` on free ports; yield its READY JSON."""
    cmd = [
        sys.executable,
        *("-m", "harness", "serve", "--host", "127.0.0.1", "--rpc-port", "0"),
        *("--facilitator-port", "0", "--slot-ms", "0", "--fresh"),
        *("--state", str(state_dir), "--parent-pid", str(os.getpid())),
    ]
    proc, info = start_process(cmd, dict(os.environ), HARNESS_READY)
    try:
        yield info
    finally:
        stop_process(proc)


def fund(rpc_url: str, address: str, **amounts: str) -> None:
    """Fund through the harness faucet (``POST /_harness/fund``)."""
    body = {"address": address, "sol": "0", "usdc": "0", "cash": "0", **amounts}
    response = requests.post(rpc_url + "/_harness/fund", json=body, timeout=30)
    response.raise_for_status()


def measure(
    name: str, sessions: list[requests.Session], total: int, call: Callable[..., bool]
) -> Result:
    """Split ``total`` calls over one thread per session; time each call."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def worker(session: requests.Session, n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            ok = call(session)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                failures[0] += 0 if ok else 1

    share = [total // len(sessions) + (i < total % len(sessions)) for i in range(len(sessions))]
    pairs = zip(sessions, share, strict=True)
    threads = [threading.Thread(target=worker, args=pair) for pair in pairs]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(name, len(sessions), latencies, time.perf_counter() - started, failures[0])


def run_bench(count: int, concurrency: int, state_dir: str | None) -> list[Result]:
    """Run the benchmark and print a table.

    Args:
        count: Requests per run.
        concurrency: Client threads of the concurrent runs.
        state_dir: Harness state directory (a temporary one when None).

    Returns:
        The measured runs.
    """
    # x402[svm] builds solana-py's sync Client, which solana 0.39 deprecates.
    warnings.filterwarnings("ignore", message="Client is deprecated", module="x402")
    with tempfile.TemporaryDirectory(prefix="mock-api-bench-") as tmp:
        base = Path(state_dir) if state_dir else Path(tmp)
        with harness_process(base / "harness") as chain:
            seller = str(Keypair().pubkey())
            env = {"MOCK_API_PAY_TO": seller, "USDC_MINT": chain["usdc_mint"]}
            with run_mock_api(
                facilitator_url=chain["facilitator_url"],
                rpc_url=chain["rpc_url"],
                cash_mint=chain["cash_mint"],
                env={**env, "CASH_TOKEN_PROGRAM": chain["cash_token_program"]},
            ) as api:
                results = _run_all(api.url, chain, count, concurrency)
    print_table(results)
    return results


def _run_all(url: str, chain: dict[str, Any], count: int, concurrency: int) -> list[Result]:
    buyers = [Keypair() for _ in range(concurrency)]
    need = str(max(10, count // 50))  # USDC per buyer: enough for its share at 0.01
    for buyer in buyers:
        fund(chain["rpc_url"], str(buyer.pubkey()), sol="1", usdc=need)
    paying = [paying_session(b, chain["rpc_url"], []) for b in buyers]
    plain = [requests.Session() for _ in buyers]

    def paid(session: requests.Session) -> bool:
        return session.get(url + PATH, timeout=60).status_code == 200

    def unpaid(session: requests.Session) -> bool:
        return session.get(url + PATH, timeout=60).status_code == 402

    measure("warm-up", paying[:1], WARMUP, paid)
    try:
        return [
            measure("unpaid -> 402", plain[:1], count, unpaid),
            measure("unpaid -> 402", plain, count, unpaid),
            measure("paid -> 200 (USDC)", paying[:1], count, paid),
            measure("paid -> 200 (USDC)", paying, count, paid),
        ]
    finally:
        for session in paying + plain:
            session.close()


def print_table(results: list[Result]) -> None:
    """Print the results as an aligned text table."""
    header = ["run", "clients", "n", "req/s", "p50 ms", "p95 ms", "p99 ms", "failed"]
    rows = [header, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
