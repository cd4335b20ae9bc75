"""An installed copy (``pip install .``, not editable) migrates a fresh database.

The project is built into a wheel (as ``pip install .`` does) and installed
without its dependencies into a fresh virtualenv; the dependencies come from this
test run's environment through a ``.pth`` line (a path entry: the editable
install's own ``.pth`` hooks there are not run, so ``autopay_app`` can only come
from the wheel). ``autopay db upgrade`` then runs from an unrelated directory
against an empty database: the migrations must ship inside the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import sqlalchemy as sa

from autopay_app.devtools import scratch

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_an_installed_copy_migrates_a_fresh_database(server_url: str, tmp_path: Path) -> None:
    source = tmp_path / "source"  # what the Dockerfile copies, so the tree stays clean
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("autopay_app", "mock_premium_api", "harness"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = tmp_path / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(wheels), str(source)]
    )
    assert "Warning" not in built.stderr  # e.g. setuptools' licence-table deprecation
    (wheel,) = wheels.glob("autopay_agent-*.whl")
    fresh = tmp_path / "fresh-venv"
    _run([sys.executable, "-m", "venv", str(fresh)])
    python = fresh / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    (Path(purelib) / "autopay-test-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = scratch.create_database(server_url, f"autopay_fresh_{os.getpid()}")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("AUTOPAY_")
    }
    env.update(DATABASE_URL=url, AUTOPAY_HOME=str(elsewhere / "home"))
    try:
        where = _run(
            [str(python), "-c", "import autopay_app; print(autopay_app.__file__)"],
            cwd=elsewhere,
            env=env,
        ).stdout.strip()
        assert where.startswith(str(fresh)), where
        done = _run([str(fresh / "bin" / "autopay"), "db", "upgrade"], cwd=elsewhere, env=env)
        assert "Traceback" not in done.stderr
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                head = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
                tables = set(
                    conn.scalars(
                        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                )
        finally:
            engine.dispose()
        versions = sorted((Path(where).parent / "migrations" / "versions").glob("0*.py"))
        assert head is not None and versions[-1].name.startswith(head[:4])
        assert {"agents", "payments", "api_requests", "wallet_balances", "job_runs"} <= tables
    finally:
        scratch.drop_database(server_url, f"autopay_fresh_{os.getpid()}")
