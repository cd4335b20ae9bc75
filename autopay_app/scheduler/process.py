"""The scheduler as a process of its own: ``autopay scheduler`` (or ``python -m``).

Starts the app's scheduler (one leader per database: run it on as many machines as
you like), prints ``SCHEDULER READY {"pid": ...}``, and runs until SIGTERM or
SIGINT, until ``parent_pid`` is gone, or for ``seconds``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from flask import Flask

from autopay_app.pids import alive

READY = "SCHEDULER READY "


def run(app: Flask, *, parent_pid: int | None = None, seconds: float | None = None) -> int:
    """Run ``app``'s scheduler until stopped; return the exit status (1: refused)."""
    scheduler = app.extensions["autopay_scheduler"]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not scheduler.start():
        print(f"autopay scheduler: refused: {scheduler.refusal()}", file=sys.stderr)
        return 1
    print(READY + json.dumps({"pid": os.getpid()}), flush=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while not stop.wait(0.2):
            if parent_pid and not alive(parent_pid):
                break
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        scheduler.shutdown(wait=True)
    return 0
