"""State survives a restart; --fresh starts from genesis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from solders.keypair import Keypair

from harness.app import MIN_FEE_PAYER_LAMPORTS
from harness.testing import run_harness


def test_restart_keeps_balances_and_history(tmp_path: Path) -> None:
    owner = str(Keypair().pubkey())
    with run_harness(tmp_path) as first:
        funded = first.fund(owner, sol="1.25", usdc="7.5", cash="3")
        fee_payer = first.fee_payer
    with run_harness(tmp_path, fresh=False) as second:
        again = second.fund(owner)  # amounts 0: just reads the balances back
        assert (again["sol"], again["usdc"], again["cash"]) == ("1.25", "7.5", "3")
        assert second.fee_payer == fee_payer
        state = second.state()
        assert state["transactions"] >= 2 and state["slot"] > 0
        assert state["mints"]["usdc"]["supply"] == "7500000"
        from harness.testing import _request

        view = _request("GET", second.rpc_url + "/_harness/tx/" + funded["signatures"][0])
        assert view["signature"] == funded["signatures"][0]
    with run_harness(tmp_path) as fresh:
        assert fresh.fund(owner)["usdc"] == "0"


def test_exits_when_parent_is_gone(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    args = [
        sys.executable,
        "-m",
        "harness",
        "--rpc-port",
        "0",
        "--facilitator-port",
        "0",
        "--state",
        str(tmp_path),
        "--parent-pid",
        str(parent.pid),
    ]
    harness = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout.readline().startswith("HARNESS READY ")
        parent.wait()
        assert harness.wait(timeout=10) == 0
        assert (tmp_path / "chain.json").exists()
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
        harness.stdout.close()


def test_a_restored_fee_payer_that_ran_dry_gets_sol_at_start(tmp_path: Path) -> None:
    with run_harness(tmp_path) as first:
        fee_payer = first.fee_payer
        assert first.state()["fee_payer_lamports"] >= MIN_FEE_PAYER_LAMPORTS
    chain_file = tmp_path / "chain.json"
    saved = json.loads(chain_file.read_text())
    saved["accounts"][fee_payer]["lamports"] = 5_000  # settled payments used up its SOL
    chain_file.write_text(json.dumps(saved))
    with run_harness(tmp_path, fresh=False) as second:
        assert second.fee_payer == fee_payer  # the same identity, restored
        assert second.state()["fee_payer_lamports"] >= MIN_FEE_PAYER_LAMPORTS
