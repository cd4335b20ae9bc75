"""The chaos fault schedule: seeded, one fault at a time, each for a random while."""

from __future__ import annotations

import json
import random
import urllib.request
from typing import Any

#: kind -> weight in the schedule.
KINDS = {
    "none": 3,
    "rpc_latency": 2,
    "rpc_error": 2,
    "rpc_429": 1,
    "rpc_hang": 1,
    "drop_tx": 1,
    "delay_confirmation": 1,
    "facilitator_verify": 1,
    "facilitator_settle": 1,
    "settle_slow": 1,
    "seller_5xx": 2,
    "kill_worker": 2,
    "pg_restart": 1,
}
RPC_METHODS = (
    "getLatestBlockhash",
    "getTransaction",
    "getTokenAccountsByOwner",
    "getSignatureStatuses",
    "getBalance",
    "getSignaturesForAddress",
)


def draw(rng: random.Random, pg_restarts_left: int) -> str:
    kinds = [k for k in KINDS if k != "pg_restart" or pg_restarts_left > 0]
    return rng.choices(kinds, weights=[KINDS[k] for k in kinds])[0]


def harness_rule(kind: str, rng: random.Random) -> dict[str, Any] | None:
    """The harness fault rule for ``kind`` (None when the harness is not involved)."""
    seed = rng.randrange(1 << 30)
    rules: dict[str, dict[str, Any]] = {
        "rpc_latency": {"method": "*", "delay_ms": rng.randrange(20, 300)},
        "rpc_error": {"method": rng.choice(RPC_METHODS), "mode": "rpc_error", "error_rate": 0.3},
        "rpc_429": {"method": "*", "mode": "http_429", "error_rate": 0.2},
        "rpc_hang": {
            "method": "getTransaction",
            "mode": "hang",
            "error_rate": 0.2,
            "hang_ms": 4000,
        },
        "drop_tx": {"method": "sendTransaction", "mode": "drop_tx", "error_rate": 0.3},
        "delay_confirmation": {
            "method": "sendTransaction",
            "mode": "delay_confirmation",
            "error_rate": 0.3,
            "confirm_delay_slots": 30,
        },
        "facilitator_verify": {
            "method": "facilitator.verify",
            "mode": "http_500",
            "error_rate": 0.3,
        },
        "facilitator_settle": {
            "method": "facilitator.settle",
            "mode": "http_500",
            "error_rate": 0.3,
        },
        "settle_slow": {"method": "facilitator.settle", "delay_ms": 4000},
    }
    rule = rules.get(kind)
    return None if rule is None else {**rule, "seed": seed}


def post(url: str, body: dict[str, Any] | None, method: str = "POST") -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
