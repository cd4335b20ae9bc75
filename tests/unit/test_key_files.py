"""Key files under AUTOPAY_HOME are created atomically, mode 0600, first writer wins.

Processes that start at the same moment (``autopay serve`` beside a worker, the
demo's processes) must never read an empty or half-written key, and must all end
up with the same one. The race is short, so the processes meet many times: in
each round they all wait (spinning) for the round's start file, then read or
create the three keys of a fresh AUTOPAY_HOME at once.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 6
ROUNDS = 60
KEYS = ("secret.key", "agent-keypair.json", "api.token")

CONTENDER = """
import json, sys
from pathlib import Path
from autopay_app.agent.wallet import load_or_create
from autopay_app.secrets import load_or_create_api_token, load_or_create_key_material

base, rounds = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
seen = []
for i in range(rounds):
    go, home = base / f"go{i}", base / f"home{i}"
    while not go.exists():
        pass
    got = []
    for read in (
        lambda: load_or_create_key_material(None, home),
        lambda: str(load_or_create(home / "agent-keypair.json").pubkey()),
        lambda: load_or_create_api_token(None, home)[0],
    ):
        try:
            got.append(read())
        except Exception as exc:
            got.append(f"ERROR {type(exc).__name__}: {exc}")
    seen.append(got)
print(json.dumps(seen))
"""


def test_processes_starting_together_share_one_complete_key(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(tmp_path), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for i in range(ROUNDS):
        (tmp_path / f"go{i}").touch()
        time.sleep(0.02)
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-800:] for _, err in outputs]
    seen = [json.loads(out) for out, _ in outputs]
    errors = {v for run in seen for got in run for v in got if v.startswith("ERROR")}
    assert not errors, errors
    for i in range(ROUNDS):
        assert len({tuple(run[i]) for run in seen}) == 1, f"round {i}: the processes disagree"
        home = tmp_path / f"home{i}"
        assert sorted(p.name for p in home.iterdir()) == sorted(KEYS)  # no temporary file left
        for name in KEYS:
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert len(json.loads((tmp_path / "home0" / "agent-keypair.json").read_text())) == 64


def test_create_private_once_keeps_the_first_value(tmp_path: Path) -> None:
    from autopay_app.secrets import create_private_once

    path = tmp_path / "deeper" / "k"
    assert create_private_once(path, lambda: "first") == ("first", True)
    assert create_private_once(path, lambda: "second") == ("first", False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
