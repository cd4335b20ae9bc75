"""A chaos worker: one agent in its own process, buying until told to stop.

``python -m autopay_app.devtools.chaos.worker ROLE SEED`` with the stack in the
environment (DATABASE_URL, SOLANA_RPC_URL, ...). ROLE ``phase1`` fetches catalog
resources one after another; ``phase3`` runs prioritizer ticks. Every start
reconciles first (the process may have been SIGKILLed); any error, including
the database going away, is printed and retried after a pause, never fatal.
The worker exits when the stop file exists or its parent is gone.
"""

from __future__ import annotations

import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", message="Client is deprecated")


def _build(role: str) -> tuple[Any, Any]:
    from autopay_app import create_app
    from autopay_app.agent.runtime import default_agent

    app = create_app(
        {
            "AUTOPAY_AGENT_OPTIONS": {
                "retry_base": 0.05,
                "http_timeout": 3.0,
                "breaker_cooldown": 1.0,
            }
        }
    )
    with app.app_context():
        agent = default_agent()
        agent.reconcile(older_than_s=0)
        if role == "phase3":
            from autopay_app.ledger.agents import set_autonomy
            from autopay_app.models import AutonomyLevel
            from autopay_app.scheduler.tick import import_catalog

            set_autonomy(agent.session(), agent.agent_id, AutonomyLevel.PHASE3, "chaos")
            import_catalog(agent, agent.settings.premium_api_url)
    return app, agent


def _step(role: str, app: Any, agent: Any, rng: random.Random, urls: list[str]) -> None:
    if role == "phase1":
        agent.fetch(rng.choice(urls))
        return
    from autopay_app.scheduler import config as scheduler_config
    from autopay_app.scheduler.tick import tick

    with app.app_context():
        tick(agent, scheduler_config.load())
    time.sleep(0.2)


def main(role: str, seed: int) -> None:
    stop = Path(os.environ["AUTOPAY_CHAOS_STOP"])
    parent = os.getppid()
    rng = random.Random(seed)
    app = agent = None
    urls: list[str] = []
    while not stop.exists() and os.getppid() == parent:
        try:
            if agent is None:
                app, agent = _build(role)
                urls = [
                    str(i["resource"])
                    for i in agent.catalog.entries(agent.settings.premium_api_url)
                ]
            _step(role, app, agent, rng, urls)
        except Exception as exc:  # the database or the RPC went away: wait and go on
            print(f"chaos worker {role}: {type(exc).__name__}: {exc}"[:300], flush=True)
            time.sleep(0.5)
    if agent is not None:
        agent.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
