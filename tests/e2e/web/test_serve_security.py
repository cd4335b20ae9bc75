"""``autopay serve`` as a user starts it: the API token, the headers, slowed guesses.

The token is generated on the first start into AUTOPAY_HOME/api.token (0600) and
printed once; the next start says where it is and does not print it. The real
server sends the security headers and answers a run of wrong tokens with 429.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

STARTED = re.compile(r"Autopay dashboard on (http://\S+/)")


@contextmanager
def serve(env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Run ``autopay serve --port 0``; yield its URL and its output lines so far."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None or not any("API token" in s for s in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            found = STARTED.search(seen[-1])
            url = url or (found.group(1) if found else None)
        time.sleep(0.3)  # the lines printed right after
        while not lines.empty():
            seen.append(lines.get())
        yield url, seen
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        reader.join(5)
        proc.stdout.close()


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path / "home"),
        "AUTOPAY_ADMIN_PASSWORD": "a password for this test",
        "SOLANA_RPC_URL": "http://127.0.0.1:9",
        "PREMIUM_API_URL": "http://127.0.0.1:9",
    }


def test_serve_prints_a_generated_token_once_and_guards_the_api(
    tmp_path: Path, database_url: str
) -> None:
    env = _env(tmp_path, database_url)
    token_file = tmp_path / "home" / "api.token"
    with serve(env) as (url, output):
        printed = [s for s in output if "API token (generated now and shown once)" in s]
        assert len(printed) == 1, output
        token = printed[0].rsplit(": ", 1)[1].strip()
        assert token == token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        ok = requests.get(url + "api/v1/agents", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert "frame-ancestors 'none'" in ok.headers["Content-Security-Policy"]
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        assert ok.headers["Cache-Control"] == "no-store"
        login = requests.get(url + "login", timeout=10)
        assert login.headers["X-Frame-Options"] == "DENY"
        with requests.Session() as guesser:
            codes = [
                guesser.get(
                    url + "api/v1/agents", headers={"Authorization": f"Bearer guess{i}"}
                ).status_code
                for i in range(15)
            ]
        assert codes[:10] == [401] * 10 and codes[-1] == 429, codes
    with serve(env) as (_, again):
        assert not any(token in s for s in again), again
        assert any(f"API token: in {token_file}" in s for s in again), again
