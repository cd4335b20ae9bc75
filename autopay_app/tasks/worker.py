"""Run a procrastinate worker over the app's agents: ``autopay worker``, or in a thread.

:func:`run` loads the agents this process holds keypairs for (AUTOPAY_KEYPAIR's
and every ``NAME.json`` of AUTOPAY_KEYS_DIR), opens the queue's connection pool
and runs procrastinate's worker until ``stop`` is set (or, with ``wait=False``,
until the queue is empty). :func:`start_in_thread` runs one in a thread of
a process that has its own work to do (``autopay serve`` and ``autopay demo`` start a
separate ``autopay worker`` process instead: gunicorn forks, and a demo's worker is
then the same process a user adds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

from autopay_app.agent.errors import PolicyDenied
from autopay_app.agent.runtime import agent_for, load_keys
from autopay_app.scheduler.jobs import database_url
from autopay_app.tasks import config as worker_config
from autopay_app.tasks import queue
from autopay_app.tasks.config import WorkerConfig

if TYPE_CHECKING:
    from autopay_app.agent import Agent

log = logging.getLogger(__name__)


class AgentPool:
    """The agents of one Flask app, by name (None for an agent without a keypair here)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def get(self, name: str) -> Agent | None:
        with self.app.app_context():
            try:
                return agent_for(name)
            except PolicyDenied:
                return None


def prepare(app: Flask, cfg: WorkerConfig) -> tuple[Any, list[str]]:
    """The procrastinate app on the ledger's database and the agents served."""
    with app.app_context():
        names = load_keys(cfg.keys_dir)
        url = database_url(app)
    return queue.build(url, cfg), names


async def _serve(
    qapp: Any, stop: threading.Event, ready: Callable[[], None] | None, options: dict[str, Any]
) -> None:
    async with qapp.open_async():
        work = asyncio.create_task(qapp.run_worker_async(**options))
        if ready is not None:
            ready()
        while not work.done() and not stop.is_set():
            await asyncio.sleep(0.1)
        if not work.done():
            work.cancel()  # procrastinate stops gracefully: running jobs finish first
            with contextlib.suppress(asyncio.CancelledError):
                await work
        else:
            work.result()


def run(
    app: Flask,
    *,
    cfg: WorkerConfig | None = None,
    concurrency: int | None = None,
    queues: Iterable[str] | None = None,
    stop: threading.Event | None = None,
    wait: bool = True,
    ready: Callable[[list[str]], None] | None = None,
) -> None:
    """Run a worker over ``app``'s agents until ``stop`` is set (``wait=False``: until the
    queue is empty)."""
    cfg = cfg or worker_config.load()
    qapp, names = prepare(app, cfg)
    options = {
        "concurrency": concurrency or cfg.concurrency,
        "queues": list(queues) if queues else None,
        "wait": wait,
        "name": f"autopay-worker-{threading.get_ident()}",
        "additional_context": {"agents": AgentPool(app), "worker_config": cfg},
        "install_signal_handlers": False,
        "update_heartbeat_interval": cfg.heartbeat_s,
        "stalled_worker_timeout": cfg.stalled_after_s,
        "delete_jobs": "never",
    }
    announce = (lambda: ready(names)) if ready is not None else None
    asyncio.run(_serve(qapp, stop or threading.Event(), announce, options))


def start_in_thread(
    app: Flask, cfg: WorkerConfig | None = None
) -> tuple[threading.Thread, threading.Event]:
    """One worker in a daemon thread of this process; set the event to stop it."""
    stop = threading.Event()
    options = {"cfg": cfg, "stop": stop}
    thread = threading.Thread(
        target=run, args=(app,), kwargs=options, name="autopay-worker", daemon=True
    )
    thread.start()
    return thread, stop
