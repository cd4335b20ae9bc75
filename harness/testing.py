"""Run a harness as a subprocess for tests: ``with run_harness(tmp_path) as h: ...``.

The subprocess gets free ports, ``--fresh`` and ``--parent-pid`` (so it never outlives
the test run), and is stopped by its PID: SIGTERM, then SIGKILL after 5 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cli import READY_PREFIX
from harness.errors import HarnessStartError
from harness.faucet import fund_via_http

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def _request(method: str, url: str, body: Any = None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass(frozen=True)
class HarnessInfo:
    """A running harness, as announced on its READY line."""

    rpc_url: str
    facilitator_url: str
    fee_payer: str
    usdc_mint: str
    cash_mint: str
    cash_token_program: str
    pid: int

    def fund(self, address: str, sol: Any = 0, usdc: Any = 0, cash: Any = 0) -> dict:
        """Fund an address (decimal token units); return the faucet's answer."""
        return fund_via_http(self.rpc_url, address, sol=sol, usdc=usdc, cash=cash)

    def set_fault(self, **spec: Any) -> dict:
        """Add or replace a fault rule (see :mod:`harness.faults`)."""
        return _request("POST", self.rpc_url + "/_harness/faults", spec)

    def clear_faults(self) -> dict:
        """Remove every fault rule."""
        return _request("DELETE", self.rpc_url + "/_harness/faults")

    def state(self) -> dict:
        """Return GET /_harness/state."""
        return _request("GET", self.rpc_url + "/_harness/state")

    def advance_slots(self, slots: int) -> int:
        """Warp the clock forward; return the new slot."""
        return _request("POST", self.rpc_url + "/_harness/advance", {"slots": slots})["slot"]


def _wait_ready(process: subprocess.Popen, timeout: float) -> dict:
    found: dict[str, Any] = {}

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY_PREFIX):
                found.update(json.loads(line[len(READY_PREFIX) :]))
                break
        ready.set()

    ready = threading.Event()
    threading.Thread(target=reader, daemon=True).start()
    ready.wait(timeout)
    if not found:
        _stop(process)
        raise HarnessStartError(f"harness did not become ready within {timeout} s")
    return found


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def run_harness(
    state_dir: Path,
    *,
    slot_ms: int = 0,
    finalize_slots: int = 32,
    extra_args: Sequence[str] = (),
    fresh: bool = True,
) -> Iterator[HarnessInfo]:
    """Start ``python -m harness`` on free loopback ports and yield its :class:`HarnessInfo`.

    Args:
        state_dir: Where the harness keeps its state.
        slot_ms: Milliseconds per slot (0: one slot per RPC call).
        finalize_slots: Slots until finalized.
        extra_args: More command-line arguments for ``serve``.
        fresh: Start from genesis (pass False to restore saved state).

    Raises:
        HarnessStartError: When no READY line arrives within 30 s.
    """
    args = [
        sys.executable,
        "-m",
        "harness",
        "serve",
        "--host",
        "127.0.0.1",
        "--rpc-port",
        "0",
        "--facilitator-port",
        "0",
        "--slot-ms",
        str(slot_ms),
        "--finalize-slots",
        str(finalize_slots),
        "--state",
        str(state_dir),
        "--parent-pid",
        str(os.getpid()),
        *(["--fresh"] if fresh else []),
        *extra_args,
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        info = _wait_ready(process, READY_TIMEOUT_S)
        yield HarnessInfo(**info)
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()
