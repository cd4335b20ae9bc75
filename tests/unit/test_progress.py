"""Progress lines: the formatter, a live line on a terminal, a line every interval off one."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time

from autopay_app.progress import Progress, Snapshot, byte_text, elapsed_text, format_line


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_format_line_shows_done_total_counters_elapsed_and_rate() -> None:
    line = format_line(
        Snapshot("chaos (seed 11)", 120, 200, "requests", 62.0, {"faults": 34, "violations": 0})
    )
    assert line == (
        "chaos (seed 11): 120/200 requests (60%), faults 34, violations 0, 1m02s, 1.9 requests/s"
    )
    assert format_line(Snapshot("demo", 1234, None, "requests", 0.0)) == (
        "demo: 1,234 requests, 0.0s, 0.0 requests/s"
    )
    assert format_line(Snapshot("backup: pg_dump", 12_300_000, None, "bytes", 4.0)) == (
        "backup: pg_dump: 12.3 MB, 4.0s, 3.1 MB/s"
    )
    assert format_line(Snapshot("upload", 500, 2_000, "bytes", 10.0)) == (
        "upload: 500 B of 2.0 kB (25%), 10s, 50 B/s"
    )
    assert format_line(Snapshot("x", 300, 200, "rows", 1.0)).startswith("x: 300/200 rows (100%)")


def test_elapsed_and_bytes_read_like_a_person_writes_them() -> None:
    assert [elapsed_text(s) for s in (0.25, 9.94, 42, 187, 3725)] == [
        "0.2s",
        "9.9s",
        "42s",
        "3m07s",
        "1h02m",
    ]
    assert [byte_text(n) for n in (812, 1500, 2_500_000, 7.2e12, 3e16)] == [
        "812 B",
        "1.5 kB",
        "2.5 MB",
        "7.2 TB",
        "30000.0 TB",
    ]


def test_off_a_terminal_a_full_line_every_interval_and_nothing_for_short_work() -> None:
    out = io.StringIO()
    with Progress("quick", total=3, interval_s=5, stream=out) as p:
        p.advance(3)
    assert out.getvalue() == ""  # shorter than one interval: silent

    out = io.StringIO()
    with Progress("soak", total=10, counters=("faults",), interval_s=0.05, stream=out) as p:
        for _ in range(4):
            p.advance()
            p.count("faults")
            time.sleep(0.08)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and "\r" not in out.getvalue()
    assert all(ln.startswith("soak: ") and "requests/s" in ln for ln in lines)
    assert lines[-1].startswith("soak: 4/10 requests (40%), faults 4, ")  # the final state


def test_on_a_terminal_one_line_redrawn_in_place() -> None:
    out = TerminalStream()
    clock = FakeClock()
    p = Progress("chaos", total=100, counters=("violations",), stream=out, clock=clock)
    assert p.tty and p.interval_s < 1  # redrawn a few times a second (drawn by hand here)
    p.advance(10)
    clock.now += 10
    p.draw()
    p.advance(40)
    p.set_count("violations", 2)
    p.draw()
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended when done
    frames = [f for f in text.rstrip("\n").split("\r") if f]
    assert frames[0].strip() == "chaos: 10/100 requests (10%), violations 0, 10s, 1.0 requests/s"
    assert frames[-1].strip() == "chaos: 50/100 requests (50%), violations 2, 10s, 5.0 requests/s"


def test_sample_reads_progress_the_work_cannot_report() -> None:
    sizes = iter([100, 2_000, 50_000])
    out = io.StringIO()
    p = Progress("pg_dump", unit="bytes", stream=out, tty=False, sample=lambda: next(sizes))
    p.draw()
    p.draw()
    assert out.getvalue().splitlines()[-1].startswith("pg_dump: 2.0 kB, ")


def test_a_real_pseudo_terminal_gets_the_live_line() -> None:
    """``isatty`` decides the mode: the same code in a pty draws with carriage returns."""
    code = (
        "import time\n"
        "from autopay_app.progress import Progress\n"
        "with Progress('pty', total=5, interval_s=60) as p:\n"
        "    for _ in range(5):\n"
        "        p.advance(); time.sleep(0.15)\n"
    )
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", code], stderr=child, cwd=os.getcwd())
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    process.wait(10)
    os.close(main)
    text = seen.decode()
    assert "\rpty: " in text and "pty: 5/5 requests (100%)" in text, text
