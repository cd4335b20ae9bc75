"""``autopay serve`` started as the README says: the real command, a subprocess, gunicorn.

Only what a user could set is set: the ledger (``DATABASE_URL``), a home, a free
port, the admin password, and per test the workers or the rate-limit storage.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

AUTOPAY = str(Path(sys.executable).with_name("autopay"))
PASSWORD = "serve-test-password"
BANNER = re.compile(r"Autopay dashboard on (http://\S+)/")
QUEUE_WORKER = "autopay_app.tasks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    output: list[str]

    def children(self) -> list[tuple[int, str]]:
        """PIDs and command lines of the live children of the master we started."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(") ", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_text().replace("\0", " ")
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                found.append((int(stat.parent.name), cmdline))
        return sorted(found)

    def workers(self) -> list[int]:
        """PIDs of the gunicorn workers (the master's children but its queue worker)."""
        return [pid for pid, cmd in self.children() if QUEUE_WORKER not in cmd]

    def queue_workers(self) -> list[int]:
        """PIDs of the ``autopay worker`` processes ``serve`` started beside gunicorn."""
        return [pid for pid, cmd in self.children() if QUEUE_WORKER in cmd]


@pytest.fixture()
def start_serve(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **env: str) -> Served:
        process = subprocess.Popen(
            [AUTOPAY, "serve", *args, "--parent-pid", str(os.getpid())],
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "AUTOPAY_HOME": str(tmp_path / "home"),
                "AUTOPAY_PORT": str(free_port()),
                "AUTOPAY_ADMIN_PASSWORD": PASSWORD,
                "PYTHONUNBUFFERED": "1",
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        output: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    output.append(line.rstrip())
                    if BANNER.search(line):
                        ready.set()
            except (OSError, ValueError):
                pass
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(90)
        url = next((m.group(1) for m in map(BANNER.search, output) if m), None)
        assert url, "\n".join(output[-30:])
        return Served(process, url, output)

    yield start
    for process in started:  # each by its own PID; gunicorn stops its workers
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def attempt_login(url: str, password: str) -> int:
    """One login on a fresh connection and session; returns the POST's status."""
    with requests.Session() as http:
        form = http.get(url + "/login", timeout=30)
        answer = http.post(
            url + "/login",
            data={"csrf_token": csrf_token(form.text), "password": password},
            allow_redirects=False,
            timeout=30,
        )
        return answer.status_code


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
