"""Starting the demo's services as child processes and stopping them by PID.

Each service prints one ``<PREFIX>{json}`` line when ready. A service already
answering at its configured URL is reused, not started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import click
import requests

from autopay_app.errors import AutopayError
from autopay_app.tasks import config as worker_config

START_TIMEOUT_S = 45.0


@dataclass
class Service:
    name: str
    info: dict[str, Any]
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def started_here(self) -> bool:
        return self.process is not None


def answers(url: str, path: str = "", *, json_rpc: bool = False) -> bool:
    try:
        if json_rpc:
            r = requests.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=1.5
            )
        else:
            r = requests.get(url + path, timeout=1.5)
        return r.status_code < 500
    except requests.RequestException:
        return False


def start(name: str, args: list[str], ready_prefix: str, env: dict[str, str]) -> Service:
    """Run ``python -m <args>`` and wait for its ready line.

    Raises:
        AutopayError: It exited or stayed silent for START_TIMEOUT_S.
    """
    cmd = [sys.executable, "-m", *args, "--parent-pid", str(os.getpid())]
    process = subprocess.Popen(
        cmd,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = Service(name, {}, process)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(ready_prefix) and not ready.is_set():
                service.info = json.loads(line[len(ready_prefix) :])
                ready.set()
            else:
                service.output = (service.output + [line.rstrip()])[-50:]

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S):
        stop(service)
        tail = "\n".join(service.output[-10:])
        raise AutopayError(f"{name} did not start within {START_TIMEOUT_S:.0f} s:\n{tail}")
    return service


def stop(service: Service) -> None:
    """Stop a service this process started (SIGTERM, then SIGKILL after 5 s)."""
    process = service.process
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def start_worker() -> list[Service]:
    """One ``autopay worker`` beside this process (none with AUTOPAY_SERVE_WORKER=0)."""
    if not worker_config.load().in_process:
        click.echo("worker: none here (AUTOPAY_SERVE_WORKER=0): run `autopay worker`")
        return []
    service = start("worker", ["autopay_app.tasks"], "WORKER READY ", {})
    click.echo(
        f"worker: pid {service.info.get('pid')} runs the queued paid fetches; add more with "
        "`autopay worker` (same DATABASE_URL and keypairs, any machine)"
    )
    return [service]
