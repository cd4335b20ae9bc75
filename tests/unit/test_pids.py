"""The parent-watch probe of the child services (worker, scheduler, gunicorn master)."""

from __future__ import annotations

import os
import subprocess
import sys

from autopay_app.pids import alive


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert alive(os.getpid())
    assert not alive(child.pid)


def test_another_users_process_counts_as_alive() -> None:
    # PID 1 exists everywhere; unprivileged, the probe gets EPERM, which still means alive.
    assert alive(1)
