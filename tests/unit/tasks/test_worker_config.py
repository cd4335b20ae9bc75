"""The workers' settings and ``autopay worker``'s refusals: one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autopay_app.errors import ConfigError
from autopay_app.tasks import config

AUTOPAY = str(Path(sys.executable).with_name("autopay"))


def test_defaults_and_overrides(tmp_path: Path) -> None:
    assert config.load({}) == config.WorkerConfig()
    cfg = config.load(
        {
            "AUTOPAY_WORKER_CONCURRENCY": "8",
            "AUTOPAY_AGENT_CONCURRENCY": "2",
            "AUTOPAY_KEYS_DIR": str(tmp_path),
            "AUTOPAY_SERVE_WORKER": "0",
        }
    )
    assert (cfg.concurrency, cfg.agent_concurrency, cfg.keys_dir) == (8, 2, tmp_path)
    assert cfg.pool == 10 and cfg.in_process is False


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"AUTOPAY_WORKER_CONCURRENCY": "0"}, "AUTOPAY_WORKER_CONCURRENCY"),
        ({"AUTOPAY_AGENT_CONCURRENCY": "many"}, "AUTOPAY_AGENT_CONCURRENCY"),
        ({"AUTOPAY_KEYS_DIR": "/nonexistent/keys"}, "AUTOPAY_KEYS_DIR"),
        ({"AUTOPAY_STALLED_AFTER_S": "1", "AUTOPAY_WORKER_HEARTBEAT_S": "2"}, "STALLED_AFTER"),
        ({"AUTOPAY_STALLED_CHECK_S": "60"}, "AUTOPAY_STALLED_CHECK_S"),
        ({"AUTOPAY_SERVE_WORKER": "maybe"}, "AUTOPAY_SERVE_WORKER"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        config.load(env)


def _worker(
    database_url: str, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOPAY, "worker", *args],
        env={**os.environ, "DATABASE_URL": database_url, "AUTOPAY_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_refuses_an_unknown_queue_and_a_bad_setting(
    database_url: str, tmp_path: Path
) -> None:
    queue = _worker(database_url, tmp_path, "--queues", "paid_fetch,nosuch")
    assert queue.returncode == 2 and "unknown queue 'nosuch'" in queue.stderr
    assert "Traceback" not in queue.stderr
    bad = _worker(database_url, tmp_path, AUTOPAY_WORKER_CONCURRENCY="lots")
    assert bad.returncode == 2 and "AUTOPAY_WORKER_CONCURRENCY" in bad.stderr
    assert "Traceback" not in bad.stderr
