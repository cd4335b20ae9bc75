"""``autopay serve`` as a user starts it: the API token, the headers, slowed guesses.

The token is generated on the first start into AUTOPAY_HOME/api.token (0600),
before the workers start, and printed once; the next start says where it is and
does not print it. The real server sends the security headers and answers a run
of wrong tokens with 429 (one worker: in-memory counts are per process).
"""

from __future__ import annotations

import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.serve.conftest import Served

pytestmark = pytest.mark.e2e


def test_serve_prints_a_generated_token_once_and_guards_the_api(
    start_serve: Callable[..., Served], tmp_path: Path
) -> None:
    token_file = tmp_path / "home" / "api.token"
    served = start_serve("--workers", "1")
    printed = [s for s in served.output if "API token (generated now and shown once)" in s]
    assert len(printed) == 1, served.output
    token = printed[0].rsplit(": ", 1)[1].strip()
    assert token == token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    url = served.url
    ok = requests.get(url + "/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert "frame-ancestors 'none'" in ok.headers["Content-Security-Policy"]
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    assert ok.headers["Cache-Control"] == "no-store"
    assert requests.get(url + "/login", timeout=10).headers["X-Frame-Options"] == "DENY"
    with requests.Session() as guesser:
        codes = [
            guesser.get(
                url + "/api/v1/agents", headers={"Authorization": f"Bearer guess{i}"}, timeout=10
            ).status_code
            for i in range(15)
        ]
    assert codes[:10] == [401] * 10 and codes[-1] == 429, codes
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(30) == 0
    again = start_serve("--workers", "1")
    assert not any(token in line for line in again.output), again.output
    assert any(f"API token: in {token_file}" in line for line in again.output), again.output
