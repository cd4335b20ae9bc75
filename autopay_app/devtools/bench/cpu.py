"""CPU seconds of the processes a benchmark drives, read from ``/proc``.

Each part (the benchmark process, which runs the clients and the agent; a
seller; the harness; PostgreSQL) is a set of processes: a process tree
(gunicorn's master and its workers), or the PostgreSQL backends that serve the
benchmark's database (found through ``pg_stat_activity``). A :class:`Meter`
reads their user + system time before and after a pass; the difference over the
number of paid requests is the cost of each part per request. A part whose
processes this machine cannot see (a PostgreSQL on another host) reads as None.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")

#: The pids a part is made of, asked again at every reading (workers come and go).
Pids = Callable[[], Iterable[int]]


def process_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads, living or ended)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


class Meter:
    """CPU seconds per named part between :meth:`start` and :meth:`stop`."""

    def __init__(self, parts: dict[str, Pids]) -> None:
        self.parts = parts
        self._before: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        readings: dict[str, dict[int, float]] = {}
        for name, pids in self.parts.items():
            seconds = {pid: process_seconds(pid) for pid in pids()}
            readings[name] = {pid: s for pid, s in seconds.items() if s is not None}
        return readings

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float | None]:
        """Seconds used by each part since :meth:`start` (None: none of its processes seen).

        A process that appeared in between counts from zero; one that ended is lost
        (the benchmark warms its connections up first, so none should)."""
        after = self._read()
        used: dict[str, float | None] = {}
        for name, now in after.items():
            before = self._before.get(name, {})
            used[name] = sum(s - before.get(pid, 0.0) for pid, s in now.items()) if now else None
        return used
