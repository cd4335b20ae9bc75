"""The stack started exactly as the README says, for clients that are not this project's.

``autopay harness`` and ``autopay mock-api`` run as the real console script, in
subprocesses, configured only through options and environment variables a user
could set (free ports, a state directory, ``--parent-pid`` so nothing outlives the
run). Nothing funds or prepares the seller: the mock API must make sure of its own
token accounts. Buyers are funded with ``autopay fund``, the user's step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

AUTOPAY = str(Path(sys.executable).with_name("autopay"))


def pytest_configure(config: pytest.Config) -> None:
    # The x402 SDK's buyer scheme makes solana-py's deprecated sync Client itself, in
    # this test process (the buyer here is the bare SDK, not project code).
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:Client is deprecated; use solana\.rpc\.async_api\.AsyncClient instead",
    )


READY_TIMEOUT_S = 60.0


@dataclass
class Started:
    """A service process and what it announced on its READY line."""

    process: subprocess.Popen[str]
    info: dict[str, Any]
    output: list[str]


def start(args: list[str], env: dict[str, str], ready: str) -> Started:
    """Run ``autopay ARGS`` and wait for its ``READY {json}`` line (stdout and stderr kept)."""
    process = subprocess.Popen(
        [AUTOPAY, *args, "--parent-pid", str(os.getpid())],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    found: dict[str, Any] = {}
    event = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                output.append(line.rstrip())
                if line.startswith(ready) and not found:
                    found.update(json.loads(line[len(ready) :]))
                    event.set()
        except (OSError, ValueError):
            pass  # closed by stop()
        event.set()

    threading.Thread(target=read, daemon=True).start()
    event.wait(READY_TIMEOUT_S)
    if not found:
        stop(process)
        raise AssertionError(f"autopay {args[0]} did not start:\n" + "\n".join(output[-30:]))
    return Started(process, found, output)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process we started (by its PID), SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


@dataclass(frozen=True)
class Stack:
    """The harness and the mock API as a user started them."""

    env: dict[str, str]
    rpc_url: str
    facilitator_url: str
    api_url: str
    pay_to: str
    cash_mint: str
    usdc_mint: str
    mock_api_output: list[str]
    harness_output: list[str]

    def assert_quiet(self) -> None:
        """Neither service printed a library warning or a traceback (README: quiet output)."""
        for line in self.harness_output + self.mock_api_output:
            assert "Warning" not in line and "Traceback" not in line, line

    def autopay(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120):
        """Run one ``autopay`` command against this stack; return the CompletedProcess."""
        return subprocess.run(
            [AUTOPAY, *args],
            env={**os.environ, **self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def fund(self, address: str, **amounts: str) -> None:
        """``autopay fund ADDRESS --usdc .. --cash ..`` (the user's funding step)."""
        flags = [f"--{k}={v}" for k, v in amounts.items()]
        done = self.autopay("fund", address, *flags)
        assert done.returncode == 0, done.stderr

    def catalog(self) -> list[dict[str, Any]]:
        body = requests.get(self.api_url + "/api/catalog", timeout=10).json()
        return list(body["items"])


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("interop-home")
    harness = start(
        [
            "harness",
            "--rpc-port",
            "0",
            "--facilitator-port",
            "0",
            "--slot-ms",
            "100",
            "--state",
            str(home / "harness-state"),
        ],
        {},
        "HARNESS READY ",
    )
    env = {
        "AUTOPAY_HOME": str(home),
        "SOLANA_RPC_URL": harness.info["rpc_url"],
        "X402_FACILITATOR_URL": harness.info["facilitator_url"],
        "MOCK_API_STATE_DIR": str(home),
    }
    try:
        api = start(["mock-api", "--port", "0"], env, "MOCK API READY ")
    except BaseException:
        stop(harness.process)
        raise
    try:
        yield Stack(
            env={**env, "PREMIUM_API_URL": api.info["url"]},
            rpc_url=harness.info["rpc_url"],
            facilitator_url=harness.info["facilitator_url"],
            api_url=api.info["url"],
            pay_to=api.info["pay_to"],
            cash_mint=harness.info["cash_mint"],
            usdc_mint=harness.info["usdc_mint"],
            mock_api_output=api.output,
            harness_output=harness.output,
        )
    finally:
        stop(api.process)
        stop(harness.process)
