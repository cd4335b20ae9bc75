"""Run the mock API as a real subprocess, for tests and demos.

``run_mock_api`` starts ``python -m mock_premium_api --port 0 --parent-pid <me>``,
waits for its ``MOCK API READY {...}`` line and stops it, by its PID, on exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

READY_PREFIX = "MOCK API READY "
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class MockApiInfo:
    """A running mock API.

    Attributes:
        url: Base URL, e.g. ``http://127.0.0.1:40123``.
        pay_to: The seller wallet payments go to.
        pid: Process id of the server.
    """

    url: str
    pay_to: str
    pid: int


class MockApiStartError(RuntimeError):
    """A started service exited or stayed silent instead of becoming ready."""


@contextmanager
def run_mock_api(
    *,
    facilitator_url: str,
    rpc_url: str,
    cash_mint: str,
    env: dict[str, str] | None = None,
) -> Iterator[MockApiInfo]:
    """Start the mock API on a free loopback port; stop it on exit.

    Args:
        facilitator_url: The facilitator to verify and settle with.
        rpc_url: Solana JSON-RPC URL.
        cash_mint: The CASH mint to accept.
        env: Extra environment (e.g. ``MOCK_API_PAY_TO``, ``MOCK_API_PRICES``).

    Yields:
        Where it listens and whom it is paid to.

    Raises:
        MockApiStartError: It did not print its READY line in time.
    """
    child_env = {
        **os.environ,
        "X402_FACILITATOR_URL": facilitator_url,
        "SOLANA_RPC_URL": rpc_url,
        "CASH_MINT": cash_mint,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "mock_premium_api",
        "--port",
        "0",
        "--parent-pid",
        str(os.getpid()),
    ]
    proc, data = start_process(cmd, child_env, READY_PREFIX)
    try:
        yield MockApiInfo(data["url"], data["pay_to"], int(data["pid"]))
    finally:
        stop_process(proc)


def start_process(
    cmd: list[str], env: dict[str, str], ready_prefix: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start a service process and wait for its ``<prefix>{json}`` ready line.

    Args:
        cmd: Command line.
        env: Full environment of the child.
        ready_prefix: Start of the line announcing readiness.

    Returns:
        The process (its output is drained from then on) and the ready JSON.

    Raises:
        MockApiStartError: No ready line within START_TIMEOUT_SECONDS.
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    data = _wait_ready(proc, ready_prefix)
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=_drain, args=(stream,), daemon=True).start()
    return proc, data


def _wait_ready(proc: subprocess.Popen[str], prefix: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                found.append(json.loads(line[len(prefix) :]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_SECONDS)
    if not found:
        if proc.poll() is None:
            proc.terminate()
        stderr = proc.stderr.read() if proc.stderr else ""
        stop_process(proc)
        raise MockApiStartError(
            f"{cmd_name(proc)} not ready (exit {proc.returncode}): {stderr[-2000:]}"
        )
    return found[0]


def _drain(stream: object) -> None:
    # Keep reading so a chatty child never blocks on a full pipe.
    try:
        for _ in stream:  # type: ignore[attr-defined]
            pass
    except (OSError, ValueError):
        pass  # closed by stop_process


def cmd_name(proc: subprocess.Popen[str]) -> str:
    """A short name of the process's command, for messages."""
    args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    return " ".join(str(a) for a in args[1:3])


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Stop a started service by its PID (SIGTERM, then SIGKILL) and close its pipes."""
    # Popen.terminate/kill signal exactly this child, by its PID.
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except (OSError, ValueError):
                pass
