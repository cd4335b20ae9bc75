"""Seller I/O over MCP: a paid tool call answers like an HTTP seller.

The pipeline's steps talk to sellers through :func:`autopay_app.agent.io.seller_get`,
which hands an ``mcp+http(s)://...#tool`` URL (:mod:`.mcp_target`) to
:class:`McpSeller` instead of HTTP. It calls the tool with the official MCP
client over streamable HTTP and expresses the answer as an
:class:`~autopay_app.agent.http.Answer`, so the same steps quote, decide,
reserve, sign, write ahead, deliver and verify a tool call:

- a tool result that is an x402 ``PaymentRequired`` (``isError`` with
  ``x402Version`` and ``accepts``, as ``x402.mcp``'s payment wrapper answers)
  is a 402 whose body is that document;
- the payment goes in the call's ``_meta["x402/payment"]`` (the x402 MCP
  transport), taken from the signed ``PAYMENT-SIGNATURE`` value;
- a successful result is a 200 with its structured (or text) content as the body,
  and its ``_meta["x402/payment-response"]`` settlement receipt as the
  ``PAYMENT-RESPONSE`` header;
- any other tool error is a 400 with its text (``facilitator_unavailable...``: a seller
  failure that counts against the facilitator's breaker, as a 503 over HTTP).

An answer over the agent's body cap is ``RESPONSE_TOO_LARGE``.

Connection failures are ``NETWORK`` (the seller's breaker counts them); a call past
its timeout is ``SELLER_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp_types import CallToolResult

from autopay_app.agent import mcp_target
from autopay_app.agent.errors import NetworkFailure, ResponseTooLarge, SellerError, SellerTimeout
from autopay_app.agent.http import Answer

PAYMENT_META = "x402/payment"
RESPONSE_META = "x402/payment-response"
PAYMENT_HEADERS = ("payment-signature", "x-payment")
#: A seller's tool error saying its facilitator is down (as x402 sellers answer 503 over HTTP).
FACILITATOR_DOWN = b"facilitator_unavailable"


class McpSeller:
    """Calls tools on MCP servers for the agent (one client connection per call)."""

    def __init__(self, timeout: float, max_body: int) -> None:
        self.timeout = timeout
        self.max_body = max_body

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        """Call the tool ``url`` names, paying with the payment header in ``headers``."""
        target = mcp_target.parse(url)
        meta = _payment_meta(headers or {})
        started = time.monotonic()
        try:
            result = self._run(target, meta)
        except TimeoutError:
            raise SellerTimeout(f"{target.endpoint} ({target.tool}) did not answer") from None
        except (OSError, httpx2.HTTPError, RuntimeError) as exc:
            raise NetworkFailure(f"{target.endpoint}: MCP call failed: {exc}") from None
        except Exception as exc:  # an MCP protocol error: the server is not usable
            raise NetworkFailure(f"{target.endpoint}: MCP error: {exc}") from None
        elapsed = int((time.monotonic() - started) * 1000)
        answer = _answer(result, elapsed)
        if len(answer.body) > self.max_body:
            raise ResponseTooLarge(
                f"{target.endpoint} ({target.tool}): answer over {self.max_body} bytes"
            )
        if answer.status == 400 and answer.body.startswith(FACILITATOR_DOWN):
            error = SellerError(f"{target.endpoint} ({target.tool}): {answer.body[:200]!r}")
            error.facilitator = True  # counts against the facilitator's breaker
            raise error
        return answer

    def _run(self, target: mcp_target.McpTarget, meta: dict[str, Any] | None) -> Any:
        """The call on an event loop of its own (on another thread when this thread runs
        one already: an async worker, or a test's loop, calling the synchronous pipeline)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return anyio.run(self._call, target, meta)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autopay-mcp") as pool:
            return pool.submit(anyio.run, self._call, target, meta).result()

    async def _call(self, target: mcp_target.McpTarget, meta: dict[str, Any] | None) -> Any:
        with anyio.fail_after(self.timeout * 3):
            async with Client(
                target.endpoint, read_timeout_seconds=self.timeout, mode="legacy", cache=None
            ) as client:
                return await client.call_tool(
                    target.tool,
                    target.arguments,
                    meta=meta,  # type: ignore[arg-type]
                )


def _payment_meta(headers: dict[str, str]) -> dict[str, Any] | None:
    """The payment header's payload as the x402 MCP ``_meta`` entry (None: unpaid)."""
    raw = next((v for k, v in headers.items() if k.lower() in PAYMENT_HEADERS), None)
    if raw is None:
        return None
    try:
        payload = json.loads(base64.b64decode(raw.encode(), validate=True))
    except (binascii.Error, ValueError) as exc:  # our own signer built it: never expected
        raise NetworkFailure(f"cannot express the payment for MCP: {exc}") from None
    return {PAYMENT_META: payload}


def _answer(result: CallToolResult, elapsed_ms: int) -> Answer:
    structured = result.structured_content
    if result.is_error:
        if isinstance(structured, dict) and "x402Version" in structured and "accepts" in structured:
            document = {k: v for k, v in structured.items() if k != RESPONSE_META}
            return Answer(402, {}, json.dumps(document).encode(), elapsed_ms)
        return Answer(400, {}, _text(result).encode(), elapsed_ms)
    headers: dict[str, str] = {}
    receipt = (result.meta or {}).get(RESPONSE_META)
    if isinstance(receipt, dict):
        headers["PAYMENT-RESPONSE"] = base64.b64encode(json.dumps(receipt).encode()).decode()
    body = json.dumps(structured) if structured is not None else _text(result)
    return Answer(200, headers, body.encode(), elapsed_ms)


def _text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)
