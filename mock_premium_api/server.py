"""Serving: werkzeug's threaded WSGI server, tuned, with a READY line.

werkzeug's server is threaded and speaks HTTP/1.1 keep-alive; two settings
matter for latency: Nagle is disabled (headers and body are written
separately, and Nagle plus delayed ACKs would add ~40 ms per response) and the
per-request access log is off. With ``parent_pid`` the server exits by itself
when that process is gone, so a crashed test run leaves no orphan.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

PARENT_POLL_SECONDS = 0.5


class QuietHandler(WSGIRequestHandler):
    """Request handler without Nagle and without per-request logging."""

    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log (it costs a write per request)."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded server (port 0 picks a free port).

    Raises:
        ValueError: ``host`` is not a loopback address.
    """
    if not is_loopback(host):
        raise ValueError(f"the mock API binds only to loopback, not {host!r}")
    return make_server(host, port, app, threaded=True, request_handler=QuietHandler)


def ready_line(server: BaseWSGIServer, pay_to: str) -> str:
    """The line announcing readiness, parsed by ``testing.run_mock_api``."""
    info = {"url": f"http://{server.host}:{server.port}", "pay_to": pay_to, "pid": os.getpid()}
    return "MOCK API READY " + json.dumps(info)


def watch_parent(server: BaseWSGIServer, parent_pid: int) -> threading.Thread:
    """Shut the server down once ``parent_pid`` no longer exists."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(PARENT_POLL_SECONDS):
            if not _alive(parent_pid):
                server.shutdown()
                return

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


def serve(app: Flask, host: str, port: int, pay_to: str, parent_pid: int | None) -> None:
    """Serve until interrupted or until the parent process is gone."""
    server = build_server(app, host, port)
    if parent_pid:
        watch_parent(server, parent_pid)
    print(ready_line(server, pay_to), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
