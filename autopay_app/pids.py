"""Whether a process is still there, by its PID (the parent-watch of child services)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` exists, ours or another user's (signal 0 is only a probe)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
