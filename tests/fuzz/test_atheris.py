"""Each atheris harness under ``fuzz/`` runs a bounded number of inputs without a finding."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz import oracles

pytest.importorskip("atheris", reason="atheris is not installable on this Python")

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4000


@pytest.mark.parametrize(
    ("harness", "seeds"),
    [("fuzz_gateway.py", oracles.gateway_seeds), ("fuzz_mock_api.py", oracles.mock_seeds)],
)
def test_harness_runs_clean(harness: str, seeds: Callable[[], list[bytes]], tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    result = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / harness), f"-runs={RUNS}", "-seed=1", str(corpus)],
        cwd=tmp_path,  # crash-* artifacts, if any, land here
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-3000:]
    assert f"Done {RUNS} runs" in report, report[-3000:]
