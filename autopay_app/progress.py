"""Progress of long work: a live line on a terminal, a line every few seconds off one.

Long commands (``autopay chaos``, the benchmarks, ``autopay demo --requests N``,
backups and restores) report what they have done so far: work done (of the
total when known), named counters (faults, violations, failures), the time
elapsed and the rate. On a terminal the line is redrawn in place a few times a
second; when the output is a file or a pipe (CI, ``nohup``, a log collector) a
full line is written every ``interval_s`` seconds (AUTOPAY_PROGRESS_INTERVAL_S),
so a 20-minute run is never silent. Work shorter than one interval prints
nothing off a terminal. Progress goes to stderr: the commands' final summaries
on stdout stay as they are.

A background thread draws, so a step that makes no progress for a while (one
big table in ``pg_dump``) still shows the time going by; ``sample`` lets that
thread read progress it cannot be told about (the size of a file being written).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TextIO

#: How often the live line is redrawn on a terminal.
TTY_REFRESH_S = 0.25
_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB")


def elapsed_text(seconds: float) -> str:
    """``42s``, ``3m07s``, ``1h02m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def byte_text(n: float) -> str:
    """``812 B``, ``12.3 MB``."""
    for unit in _BYTE_UNITS:
        if abs(n) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Snapshot:
    """What one progress line shows."""

    label: str
    done: int
    total: int | None
    unit: str
    elapsed_s: float
    counters: dict[str, int] = field(default_factory=dict)


def _amount(s: Snapshot) -> str:
    if s.unit == "bytes":
        done = byte_text(s.done)
        return f"{done} of {byte_text(s.total)}" if s.total else done
    text = f"{s.done:,}/{s.total:,}" if s.total else f"{s.done:,}"
    return f"{text} {s.unit}"


def _rate(s: Snapshot) -> str:
    per_s = s.done / s.elapsed_s if s.elapsed_s > 0 else 0.0
    if s.unit == "bytes":
        return f"{byte_text(per_s)}/s"
    return f"{per_s:.1f} {s.unit}/s"


def format_line(s: Snapshot) -> str:
    """``chaos: 120/200 requests (60%), faults 34, violations 0, 1m02s, 1.9 requests/s``."""
    parts = [_amount(s)]
    if s.total:
        parts[0] += f" ({min(100, s.done * 100 // s.total)}%)"
    parts += [f"{name} {value:,}" for name, value in s.counters.items()]
    parts += [elapsed_text(s.elapsed_s), _rate(s)]
    return f"{s.label}: " + ", ".join(parts)


class Progress:
    """One piece of long work; use it as a context manager.

    Args:
        label: What is being done (``chaos (seed 11)``, ``backup``).
        total: The amount of work when known.
        unit: ``requests``, ``rows``, ``objects``, ... or ``bytes`` (shown as kB, MB).
        counters: Counter names shown from the start, in this order (``faults``, ...).
        interval_s: Seconds between lines when the stream is not a terminal.
        stream: Where to write (stderr).
        tty: Force terminal (True) or line (False) mode; default: ask the stream.
        sample: Called before each draw; returns the work done (e.g. a file's size).
        clock: A monotonic clock in seconds (tests pass their own).
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "requests",
        counters: tuple[str, ...] = (),
        interval_s: float = 5.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
        sample: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else tty
        self.interval_s = TTY_REFRESH_S if self.tty else max(interval_s, 0.01)
        self.sample, self.clock = sample, clock
        self.done = 0
        self.counters: dict[str, int] = dict.fromkeys(counters, 0)
        self.lines_written = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = clock()
        self._width = 0

    # ------------------------------------------------------------- updates
    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n

    def update_to(self, done: int) -> None:
        with self._lock:
            self.done = done

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def set_count(self, name: str, value: int) -> None:
        with self._lock:
            self.counters[name] = value

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                self.label,
                self.done,
                self.total,
                self.unit,
                self.clock() - self._started,
                dict(self.counters),
            )

    # ------------------------------------------------------------- drawing
    def draw(self) -> None:
        """Write the current line: in place on a terminal, as a new line otherwise."""
        if self.sample is not None:
            try:
                self.update_to(self.sample())
            except OSError:
                pass  # the file being measured is not there yet
        line = format_line(self.snapshot())
        with self._lock:
            if self.tty:
                pad = " " * max(0, self._width - len(line))
                self.stream.write(f"\r{line}{pad}")
                self._width = len(line)
            else:
                self.stream.write(line + "\n")
            self.lines_written += 1
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.draw()

    def __enter__(self) -> Progress:
        self._started = self.clock()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing; the last state is written when anything was shown before."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.lines_written:
            self.draw()
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
