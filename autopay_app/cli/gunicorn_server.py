"""gunicorn running the app for ``autopay serve``.

The ``autopay serve`` process is gunicorn's master: it binds, forks ``workers``
``gthread`` workers (``threads`` each) and replaces any that die. Every worker
builds its own app with :func:`autopay_app.create_app` (nothing is shared over
the fork but the environment) and, unless told not to, starts the Phase 3
scheduler: each worker's scheduler tries the PostgreSQL advisory lock, so
exactly one of them runs the jobs and the others stand by to take over.

The first worker ready prints the banner (``announce``), once for the whole
deployment. With ``parent_pid`` the master stops itself when that process is
gone, so a test run that dies leaves nothing behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from autopay_app.pids import alive

PARENT_POLL_S = 0.5


class AutopayServer(BaseApplication):  # type: ignore[misc]
    """The app under gunicorn (see the module docstring)."""

    def __init__(
        self,
        *,
        bind: str,
        workers: int,
        threads: int,
        scheduler: bool,
        announce: Callable[[str], None],
        parent_pid: int | None = None,
    ) -> None:
        self.bind, self.workers, self.threads = bind, workers, threads
        self.scheduler, self.announce, self.parent_pid = scheduler, announce, parent_pid
        self._announced = multiprocessing.Value("b", 0)  # shared with the forked workers
        self._app: Flask | None = None
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": self.bind,
            "workers": self.workers,
            "threads": self.threads,
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "autopay-serve",
            # X-Forwarded-* are werkzeug's ProxyFix's business (AUTOPAY_PROXY_HOPS).
            "forwarded_allow_ips": "",
            "control_socket_disable": True,
            "when_ready": self._when_ready,
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            if key in self.cfg.settings:  # older gunicorns lack the newest settings
                self.cfg.set(key, value)

    def load(self) -> Flask:
        from autopay_app import create_app

        self._app = create_app()
        return self._app

    def _when_ready(self, arbiter: Any) -> None:
        if self.parent_pid:
            threading.Thread(target=self._watch_parent, name="parent-watch", daemon=True).start()

    def _watch_parent(self) -> None:
        assert self.parent_pid is not None
        while alive(self.parent_pid):
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)  # a graceful stop of this master

    def _post_worker_init(self, worker: Any) -> None:
        if self.scheduler and self._app is not None:
            self._app.extensions["autopay_scheduler"].start()
        with self._announced.get_lock():
            if self._announced.value:
                return
            self._announced.value = 1
        host, port = worker.sockets[0].getsockname()[:2]
        self.announce(f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/")

    def _worker_exit(self, arbiter: Any, worker: Any) -> None:
        if self._app is not None:
            self._app.extensions["autopay_scheduler"].shutdown(wait=False)
