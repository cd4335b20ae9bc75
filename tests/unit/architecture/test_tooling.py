"""Types are a gate: ``make check`` and CI run mypy on the three packages."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_make_check_runs_ruff_format_and_mypy_before_the_tests() -> None:
    plan = subprocess.run(
        ["make", "-n", "check"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    steps = [line for line in plan if line.startswith(".venv/bin/")]
    names = [" ".join(line.split()[:3]) for line in steps]
    assert names.index(".venv/bin/ruff check .") < names.index(".venv/bin/mypy")
    assert ".venv/bin/ruff format --check" in names
    assert names.index(".venv/bin/mypy") < names.index(".venv/bin/python -m pytest")


def test_ci_runs_the_type_check_and_mypy_covers_the_three_packages() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci.index("make typecheck") < ci.index("make test")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert set(config["packages"]) == {"autopay_app", "mock_premium_api", "harness"}
