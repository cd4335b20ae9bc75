"""The workers' settings: environment variables with defaults, validated once.

| variable | default | meaning |
|---|---|---|
| AUTOPAY_WORKER_CONCURRENCY | 4 | jobs one worker process runs at once |
| AUTOPAY_AGENT_CONCURRENCY | 4 | paid fetches of one agent running at once, over all workers |
| AUTOPAY_KEYS_DIR | unset | more agents a worker serves: ``NAME.json`` keypair files |
| AUTOPAY_WORKER_HEARTBEAT_S | 5 | how often a worker says it is alive |
| AUTOPAY_STALLED_AFTER_S | 30 | a worker silent this long is dead: its jobs are retried |
| AUTOPAY_STALLED_CHECK_S | 10 | how often stalled jobs are looked for (seconds, 1-59) |
| AUTOPAY_WORKER_POOL | concurrency + 2 | connections of a worker's procrastinate pool |
| AUTOPAY_SERVE_WORKER | 1 | ``0``: ``autopay serve`` / ``demo`` start no worker beside them |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from autopay_app.config import _float, _int
from autopay_app.errors import ConfigError


@dataclass(frozen=True)
class WorkerConfig:
    """The workers' validated settings (see the module docstring)."""

    concurrency: int = 4
    agent_concurrency: int = 4
    keys_dir: Path | None = None
    heartbeat_s: float = 5.0
    stalled_after_s: float = 30.0
    stalled_check_s: int = 10
    pool_size: int | None = None
    in_process: bool = True

    @property
    def pool(self) -> int:
        return self.pool_size or self.concurrency + 2


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def load(env: Mapping[str, str] | None = None) -> WorkerConfig:
    """Read and validate the workers' variables (default: ``os.environ``).

    Raises:
        ConfigError: A variable is malformed; the message names it.
    """
    env = os.environ if env is None else env
    keys = env.get("AUTOPAY_KEYS_DIR", "").strip()
    if keys and not Path(keys).is_dir():
        raise ConfigError(f"AUTOPAY_KEYS_DIR: {keys} is not a directory")
    heartbeat = _float(env, "AUTOPAY_WORKER_HEARTBEAT_S", 5.0, 0.1, 3600.0)
    stalled = _float(env, "AUTOPAY_STALLED_AFTER_S", 30.0, 0.5, 86400.0)
    if stalled <= heartbeat:
        raise ConfigError(
            f"AUTOPAY_STALLED_AFTER_S ({stalled}) must be longer than "
            f"AUTOPAY_WORKER_HEARTBEAT_S ({heartbeat})"
        )
    pool = _int(env, "AUTOPAY_WORKER_POOL", 0, 0, 1000)
    return WorkerConfig(
        concurrency=_int(env, "AUTOPAY_WORKER_CONCURRENCY", 4, 1, 256),
        agent_concurrency=_int(env, "AUTOPAY_AGENT_CONCURRENCY", 4, 1, 256),
        keys_dir=Path(keys) if keys else None,
        heartbeat_s=heartbeat,
        stalled_after_s=stalled,
        stalled_check_s=_int(env, "AUTOPAY_STALLED_CHECK_S", 10, 1, 59),
        pool_size=pool or None,
        in_process=_flag(env, "AUTOPAY_SERVE_WORKER", True),
    )
