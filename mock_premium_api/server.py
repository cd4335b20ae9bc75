"""Serving the mock API under gunicorn, with a READY line and an exit when the parent is gone.

gunicorn's ``gthread`` workers (``MOCK_API_WORKERS`` processes x
``MOCK_API_THREADS`` threads, default 1 x 16): the replay and idempotency ledger
(:mod:`.ledger`) and the fault knobs live in the worker's memory, so one worker
keeps every guarantee (a replay is refused 409, a lost delivery is redelivered);
more workers serve more, and a replay reaching another worker is still refused,
by the chain and the facilitator. gunicorn sets ``TCP_NODELAY`` on its sockets
(Nagle plus delayed ACKs would add ~40 ms per response) and writes no access log.

The first worker to be ready prints ``MOCK API READY {"url", "pay_to", "pid"}``
(the master's pid: stop that one). With ``parent_pid`` the master shuts down by
itself once that process is gone, so a crashed test run leaves no orphan.
"""

from __future__ import annotations

import ipaddress
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import MockApiConfig

PARENT_POLL_SECONDS = 0.5
READY_PREFIX = "MOCK API READY "


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ready_line(url: str, pay_to: str, pid: int) -> str:
    """The line announcing readiness, parsed by ``testing.run_mock_api``."""
    return READY_PREFIX + json.dumps({"url": url, "pay_to": pay_to, "pid": pid})


def watch_parent(parent_pid: int) -> threading.Thread:
    """SIGTERM this process (a graceful gunicorn stop) once ``parent_pid`` is gone."""

    def run() -> None:
        while _alive(parent_pid):
            time.sleep(PARENT_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run, name="parent-watch", daemon=True)
    thread.start()
    return thread


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    # An exited parent that nobody reaped yet still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class MockApiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running the mock API; every worker builds its own app from ``config``."""

    def __init__(
        self,
        config: MockApiConfig,
        host: str,
        port: int,
        parent_pid: int | None = None,
    ) -> None:
        self.config = config
        self.bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.parent_pid = parent_pid
        self._announced = multiprocessing.Value("b", 0)  # shared with the forked workers
        super().__init__()

    def options(self) -> dict[str, Any]:
        return {
            "bind": self.bind,
            "workers": self.config.workers,
            "threads": self.config.threads,
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": 5,
            # Longer than a client's idle connection usually lives: gthread closes an
            # expired keep-alive connection even when a request has just arrived on it
            # (the client sees a reset), so a short keep-alive breaks busy clients.
            "keepalive": 75,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "autopay-mock-api",
            # Room for the gate's own limit, so it answers 431 with a JSON reason.
            "limit_request_field_size": max(8190, 2 * self.config.max_header_bytes),
            # Forwarded headers are not trusted here: the mock API sits on loopback.
            "forwarded_allow_ips": "",
            "control_socket_disable": True,
            "when_ready": self._when_ready,
            "post_worker_init": self._post_worker_init,
        }

    def load_config(self) -> None:
        for key, value in self.options().items():
            if key in self.cfg.settings:  # older gunicorns lack the newest settings
                self.cfg.set(key, value)

    def load(self) -> Any:
        from . import create_app

        return create_app(self.config)

    def _when_ready(self, arbiter: Any) -> None:
        if self.parent_pid:
            watch_parent(self.parent_pid)

    def _post_worker_init(self, worker: Any) -> None:
        with self._announced.get_lock():
            if self._announced.value:
                return
            self._announced.value = 1
        host, port = worker.sockets[0].getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        print(ready_line(url, self.config.pay_to, worker.ppid), flush=True)


def serve(config: MockApiConfig, host: str, port: int, parent_pid: int | None) -> None:
    """Serve until SIGTERM / SIGINT, or until the parent process is gone."""
    if not is_loopback(host):
        print(f"mock-api: listening on {host}, reachable from other machines", file=sys.stderr)
    MockApiServer(config, host, port, parent_pid).run()
