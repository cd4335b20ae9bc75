"""JSON-RPC 2.0 dispatch: parsing, batches, error objects and fault decisions.

The dispatcher turns one HTTP body into one HTTP body. It never raises for bad input:
malformed JSON, wrong shapes, unknown methods and handler errors all become the JSON-RPC
error objects a Solana node sends. Faults that act at the HTTP level (5xx, 429, reset,
hang) are raised as :class:`HttpFault` for the server to carry out.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from harness import rpc_accounts, rpc_tx
from harness.chain import Chain
from harness.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NODE_UNHEALTHY,
    PARSE_ERROR,
    RpcError,
)
from harness.faults import HTTP_MODES, NO_FAULT, Decision, FaultInjector

log = logging.getLogger(__name__)
METHODS = {**rpc_accounts.METHODS, **rpc_tx.METHODS}
MAX_BATCH = 1000


class HttpFault(Exception):
    """An injected fault the HTTP server must carry out (status, reset or hang)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.mode)
        self.decision = decision


def _error(code: int, message: str, request_id: Any = None, data: Any = None) -> dict:
    return {"jsonrpc": "2.0", "error": RpcError(code, message, data).to_json(), "id": request_id}


class Dispatcher:
    """Answers JSON-RPC requests against a :class:`Chain`."""

    def __init__(self, chain: Chain, faults: FaultInjector) -> None:
        self.chain = chain
        self.faults = faults
        self.counts: dict[str, int] = {}

    def handle_body(self, body: bytes) -> bytes:
        """Answer one HTTP body (a request or a batch); b"" when nothing is to be sent."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # Recursion: nested too deep
            return json.dumps(_error(PARSE_ERROR, "Parse error")).encode()
        if isinstance(request, list):
            return self._batch(request)
        answer = self._one_checked(request, self._decide(request))
        return b"" if answer is None else json.dumps(answer).encode()

    def _batch(self, requests: list) -> bytes:
        if not requests or len(requests) > MAX_BATCH:
            return json.dumps(_error(INVALID_REQUEST, "Invalid request")).encode()
        decisions = [self._decide(r) for r in requests]
        answers = [self._one_checked(r, d) for r, d in zip(requests, decisions, strict=True)]
        answers = [a for a in answers if a is not None]
        return json.dumps(answers).encode() if answers else b""

    def _decide(self, request: Any) -> Decision:
        method = request.get("method") if isinstance(request, dict) else None
        if not isinstance(method, str):
            return NO_FAULT
        decision = self.faults.decide(method)
        if decision.mode in HTTP_MODES:
            if decision.delay_s:
                time.sleep(decision.delay_s)
            raise HttpFault(decision)
        return decision

    def _one_checked(self, request: Any, decision: Decision) -> dict | None:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _error(INVALID_REQUEST, "Invalid request")
        request_id = request.get("id")
        method, params = request.get("method"), request.get("params", [])
        if not isinstance(method, str) or not isinstance(request_id, (str, int, type(None))):
            return _error(INVALID_REQUEST, "Invalid request")
        if not isinstance(params, list):
            return _error(INVALID_REQUEST, "Invalid request", request_id)
        answer = self._call(method, params, request_id, decision)
        return answer if "id" in request else None

    def _call(self, method: str, params: list, request_id: Any, decision: Decision) -> dict:
        handler = METHODS.get(method)
        if handler is None:
            return _error(METHOD_NOT_FOUND, "Method not found", request_id)
        self.counts[method] = self.counts.get(method, 0) + 1
        self.chain.clock.tick()
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.mode == "rpc_error":
            return _error(NODE_UNHEALTHY, "Node is unhealthy", request_id, {})
        try:
            result = self._run(handler, method, params, decision)
        except RpcError as exc:
            return {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
        except BaseException as exc:  # solders panics are BaseExceptions: answer, log
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            log.exception("internal error in %s", method)
            return _error(INTERNAL_ERROR, "Internal error", request_id)
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def _run(self, handler, method: str, params: list, decision: Decision) -> Any:
        if method == "sendTransaction" and decision.mode in ("drop_tx", "delay_confirmation"):
            drop = decision.mode == "drop_tx"
            delay = decision.confirm_delay_slots if not drop else 0
            return rpc_tx.send_transaction(self.chain, params, drop, delay)
        return handler(self.chain, params)
