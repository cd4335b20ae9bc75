"""``python -m autopay_app.scheduler``: a scheduler-only worker process.

Useful beside web workers that do not run jobs, and in tests (two workers
against one database). Configured by the same environment as ``autopay``;
prints ``SCHEDULER READY {"pid": ...}`` once started and exits on SIGTERM or
SIGINT, when ``--parent-pid`` is gone, or after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

READY = "SCHEDULER READY "


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autopay_app.scheduler")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it is gone")
    parser.add_argument("--seconds", type=float, default=None, help="exit after this long")
    args = parser.parse_args(argv)

    from autopay_app import create_app
    from autopay_app.errors import AutopayError
    from autopay_app.scheduler import create_scheduler

    try:
        app = create_app()
        scheduler = create_scheduler(app)
    except AutopayError as exc:
        print(f"autopay scheduler: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not scheduler.start():
        print(f"autopay scheduler: refused: {scheduler.refusal()}", file=sys.stderr)
        return 1
    print(READY + json.dumps({"pid": os.getpid()}), flush=True)
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while not stop.wait(0.2):
            if args.parent_pid and not _alive(args.parent_pid):
                break
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        scheduler.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
