"""Fault injection: per RPC method, and for the facilitator's verify and settle.

A rule targets a JSON-RPC method name, ``*`` (every RPC method without a rule of its
own), ``facilitator.verify``, ``facilitator.settle``, ``facilitator.supported`` or
``facilitator.*``. Every matching call first waits ``delay_ms``; then, with probability
``error_rate`` (default 1 when a mode is given), the rule's mode fires:

==================== ============================================================
mode                 effect
==================== ============================================================
rpc_error            JSON-RPC error -32005 "Node is unhealthy" (facilitator: HTTP 500)
http_500             HTTP 500 with a small JSON body
http_429             HTTP 429 Too Many Requests with Retry-After: 1
reset                the connection is reset (RST) without an answer
hang                 no answer for ``hang_ms`` (default 30 000), then the connection closes
drop_tx              sendTransaction answers the signature but the transaction never lands
delay_confirmation   the transaction lands, but stays ``processed`` for
                     ``confirm_delay_slots`` (default 64) extra slots
==================== ============================================================

Draws come from one ``random.Random(seed)`` per rule, so a seeded rule fires on the
same calls every run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

MODES = ("rpc_error", "http_500", "http_429", "reset", "hang", "drop_tx", "delay_confirmation")
HTTP_MODES = ("http_500", "http_429", "reset", "hang")
FACILITATOR_TARGETS = ("facilitator.verify", "facilitator.settle", "facilitator.supported")


class FaultSpecError(ValueError):
    """A fault specification is malformed."""


@dataclass
class FaultRule:
    """One fault rule and its counters."""

    target: str
    mode: str | None = None
    delay_ms: int = 0
    error_rate: float = 0.0
    seed: int | None = None
    hang_ms: int = 30_000
    confirm_delay_slots: int = 64
    calls: int = 0
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Describe the rule for GET /_harness/state."""
        return {
            "method": self.target,
            "mode": self.mode,
            "delay_ms": self.delay_ms,
            "error_rate": self.error_rate,
            "seed": self.seed,
            "hang_ms": self.hang_ms,
            "confirm_delay_slots": self.confirm_delay_slots,
            "calls": self.calls,
            "injected": self.injected,
        }


@dataclass(frozen=True)
class Decision:
    """What to do with one call: wait ``delay_s``, then apply ``mode`` (None: nothing)."""

    delay_s: float = 0.0
    mode: str | None = None
    hang_s: float = 0.0
    confirm_delay_slots: int = 0


NO_FAULT = Decision()


def _number(spec: dict, key: str, default: float, kind: type) -> Any:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise FaultSpecError(f"{key} must be a non-negative number")
    return kind(value)


def parse_rule(spec: Any) -> FaultRule:
    """Validate a fault specification (the JSON of POST /_harness/faults)."""
    if not isinstance(spec, dict):
        raise FaultSpecError("fault specification must be a JSON object")
    target = spec.get("method")
    if not isinstance(target, str) or not target:
        raise FaultSpecError("method is required (an RPC method, '*' or facilitator.*)")
    mode = spec.get("mode")
    if mode is not None and mode not in MODES:
        raise FaultSpecError(f"mode must be one of {', '.join(MODES)}")
    rate = _number(spec, "error_rate", 1.0 if mode else 0.0, float)
    if rate > 1:
        raise FaultSpecError("error_rate must be between 0 and 1")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultSpecError("seed must be an integer")
    return FaultRule(
        target=target,
        mode=mode,
        delay_ms=_number(spec, "delay_ms", 0, int),
        error_rate=rate,
        seed=seed,
        hang_ms=_number(spec, "hang_ms", 30_000, int),
        confirm_delay_slots=_number(spec, "confirm_delay_slots", 64, int),
        rng=random.Random(seed),
    )


class FaultInjector:
    """The set of active fault rules, shared by the RPC and facilitator servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, FaultRule] = {}

    def set(self, spec: Any) -> FaultRule:
        """Add or replace the rule for a target."""
        rule = parse_rule(spec)
        with self._lock:
            self._rules[rule.target] = rule
        return rule

    def clear(self, target: str | None = None) -> None:
        """Remove one rule, or all of them."""
        with self._lock:
            if target is None:
                self._rules.clear()
            else:
                self._rules.pop(target, None)

    def _match(self, target: str) -> FaultRule | None:
        rule = self._rules.get(target)
        if rule is None:
            wildcard = "facilitator.*" if target.startswith("facilitator.") else "*"
            rule = self._rules.get(wildcard)
        return rule

    def decide(self, target: str) -> Decision:
        """Draw the fault (if any) for one call to ``target``."""
        if not self._rules:
            return NO_FAULT
        with self._lock:
            rule = self._match(target)
            if rule is None:
                return NO_FAULT
            rule.calls += 1
            fires = rule.mode is not None and rule.rng.random() < rule.error_rate
            if fires:
                rule.injected += 1
        return Decision(
            delay_s=rule.delay_ms / 1000.0,
            mode=rule.mode if fires else None,
            hang_s=rule.hang_ms / 1000.0,
            confirm_delay_slots=rule.confirm_delay_slots,
        )

    def snapshot(self) -> list[dict[str, Any]]:
        """Describe every rule with its counters."""
        with self._lock:
            return [rule.to_json() for rule in self._rules.values()]
