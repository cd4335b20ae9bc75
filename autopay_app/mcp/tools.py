"""What each MCP tool does, as plain functions over one agent (:class:`WalletTools`).

Each returns a :class:`Reply`: a sentence a model can act on (``text``), the
same facts as data (``data``), and whether the call failed (``error``). Money
moves only through :meth:`~autopay_app.agent.core.Agent.fetch`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from autopay_app.agent import mcp_target
from autopay_app.agent.core import Agent
from autopay_app.agent.errors import AgentError
from autopay_app.agent.result import FetchResult
from autopay_app.ledger import balances, wallet_reads

DEFAULT_MAX_CHARS = 4000
ASSETS = ("USDC", "CASH")
#: What a model should do about each refusal, by its classification.
ADVICE = {
    "POLICY_DENIED": "The agent's policy refuses this; a person must change the policy "
    "(autopay agent policy) if it should be allowed. Do not retry as is.",
    "INSUFFICIENT_FUNDS": "The wallet is too low; ask a person to top it up at the address "
    "given, then retry.",
    "DUPLICATE": "The seller saw this payment already; nothing more was paid.",
    "SELLER_5XX": "The seller is failing; try again later or another source.",
    "SELLER_TIMEOUT": "The seller did not answer in time; try again later.",
    "NETWORK": "The seller or the network is unreachable; try again later.",
    "RATE_LIMITED": "The seller asks to slow down; wait before retrying.",
    "INVALID_402": "The seller's payment request is malformed; do not buy from it.",
}


@dataclass
class Reply:
    """A tool's answer: ``text`` for the model, ``data`` as structured content."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    error: bool = False


def amount_text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(Decimal(amount).quantize(Decimal("0.000001")))


def parse_amount(raw: str | float | None) -> Decimal | None:
    """A ``max_amount`` argument as a Decimal (None when not given).

    Raises:
        ValueError: Not a positive decimal number.
    """
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"max_amount must be a decimal number, not {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"max_amount must be above zero, not {raw!r}")
    return value


class WalletTools:
    """The MCP tools of one agent. ``dashboard_url``: where a person approves (Phase 2)."""

    def __init__(self, agent: Agent, dashboard_url: str, max_chars: int = DEFAULT_MAX_CHARS):
        self.agent = agent
        self.dashboard_url = dashboard_url.rstrip("/")
        self.max_chars = max_chars

    # --------------------------------------------------------------- paying
    def paid_fetch(
        self,
        url: str,
        max_amount: str | None = None,
        asset: str | None = None,
        reason: str | None = None,
    ) -> Reply:
        """Pay for ``url`` (http(s), or an ``mcp+http://...#tool`` call) within the policy."""
        try:
            limit = parse_amount(max_amount)
            self._check_target(url, asset)
        except (ValueError, AgentError) as exc:
            return Reply(f"Refused before anything was asked: {exc}", {"status": "REFUSED"}, True)
        result = self.agent.fetch(
            url, max_amount=limit, asset=asset, reason=(reason or "").strip()[:2000] or None
        )
        result.wait_verified()  # the tool reports a payment done (VERIFIED), not only sent
        return self._result(result)

    def paid_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None = None,
        max_amount: str | None = None,
        asset: str | None = None,
        reason: str | None = None,
    ) -> Reply:
        """Pay for one call of ``tool`` on the MCP server at ``server`` (x402 over MCP)."""
        try:
            url = mcp_target.tool_url(server, tool, arguments or {})
        except AgentError as exc:
            return Reply(f"Refused before anything was asked: {exc}", {"status": "REFUSED"}, True)
        return self.paid_fetch(url, max_amount, asset, reason)

    def fetch_result(self, request_id: str, offset: int = 0) -> Reply:
        """A request's result: once a person approved it (Phase 2), or the rest of its data."""
        try:
            rid = uuid.UUID(request_id)
        except ValueError:
            return Reply(f"{request_id!r} is not a request id", {"status": "REFUSED"}, True)
        state = wallet_reads.request_state(self.agent.session(), self.agent.agent_id, rid)
        if state is None:
            return Reply(f"No request {rid} of this agent.", {"status": "UNKNOWN"}, True)
        request, payment = state.outcome.request, state.outcome.payment
        status = str(request.status)
        if state.approval == "PENDING" and status == "PAYMENT_REQUIRED":
            return self._awaiting(rid, None, None)
        result = FetchResult(
            request_id=rid,
            status=status,
            data=request.data_accessed,
            payment_id=payment.id if payment else None,
            payment_hash=payment.payment_hash if payment else None,
            amount=payment.amount if payment else None,
            asset=str(payment.currency) if payment else None,
            error=state.failure.message if state.failure else None,
            category=str(state.failure.category) if state.failure else None,
        )
        return self._result(result, offset=max(0, offset))

    # -------------------------------------------------------------- reading
    def quote(self, url: str, max_amount: str | None = None, asset: str | None = None) -> Reply:
        """What ``url`` costs and whether the policy would pay it now; nothing is paid."""
        try:
            limit = parse_amount(max_amount)
            self._check_target(url, asset)
        except (ValueError, AgentError) as exc:
            return Reply(f"Cannot quote: {exc}", {"status": "REFUSED"}, True)
        seen = self.agent.preview(url, max_amount=limit, asset=asset)
        data = {
            "url": url,
            "requires_payment": seen.requires_payment,
            "would_pay": seen.allowed,
            "asset": seen.asset,
            "amount": amount_text(seen.amount),
            "offers": seen.offers,
            "refusal": seen.refusal,
            "category": seen.category,
        }
        if not seen.requires_payment and seen.allowed:
            return Reply(f"{url} is free: no payment needed.", data)
        if seen.allowed:
            text = f"{url} costs {amount_text(seen.amount)} {seen.asset}; the policy allows it now."
            return Reply(text, data)
        advice = ADVICE.get(seen.category or "", "")
        return Reply(f"The agent would not pay for {url}: {seen.refusal}. {advice}".strip(), data)

    def balances(self) -> Reply:
        """The wallet's balances, read from the chain now."""
        try:
            read = self.agent.refresh_balances()
        except AgentError as exc:
            return Reply(f"Cannot read the balances: {exc}", {"status": "FAILED"}, True)
        threshold = self.agent.ctx.threshold
        low = [a for a in ASSETS if read.of(a) < threshold]
        data: dict[str, Any] = {
            "address": self.agent.address,
            "SOL": str(read.sol),
            "USDC": amount_text(read.usdc),
            "CASH": amount_text(read.cash),
            "low_balance_threshold": amount_text(threshold),
            "low": low,
        }
        text = f"Wallet {self.agent.address}: {data['USDC']} USDC, {data['CASH']} CASH."
        if low:
            data["top_up"] = {a: balances.top_up(self.agent.address, a, read.of(a), threshold * 10)
                              for a in low}  # fmt: skip
            text += f" Low: {', '.join(low)} (below {data['low_balance_threshold']}); a person "
            text += f"must top up {self.agent.address}."
        return Reply(text, data)

    def spending(self, window: str = "day") -> Reply:
        """What the agent spent in the rolling hour or day, against its caps."""
        if window not in ("hour", "day"):
            return Reply("window must be 'hour' or 'day'", {"status": "REFUSED"}, True)
        hour, day = wallet_reads.spent(self.agent.session(), self.agent.agent_id)
        self.agent.forget("policy")  # what a person set a moment ago shows
        policy = self.agent.policy()
        spent, cap = (hour, policy.hourly_cap) if window == "hour" else (day, policy.daily_cap)
        left = max(Decimal(0), cap - spent)
        data = {
            "window": window,
            "spent": amount_text(spent),
            "cap": amount_text(cap),
            "remaining": amount_text(left),
            "per_request_cap": amount_text(policy.per_request_cap),
        }
        text = (
            f"Spent {data['spent']} in the last {window} of a {data['cap']} cap: "
            f"{data['remaining']} left (at most {data['per_request_cap']} per request)."
        )
        return Reply(text, data)

    def recent_payments(self, limit: int = 10) -> Reply:
        """The agent's latest payments, newest first."""
        limit = min(max(limit, 1), 100)
        lines = wallet_reads.recent_payments(self.agent.session(), self.agent.agent_id, limit)
        items = [
            {
                "payment_id": str(p.payment_id),
                "request_id": str(p.request_id),
                "url": p.url,
                "tool": p.tool_name,
                "reason": p.reason,
                "amount": amount_text(p.amount),
                "asset": p.currency,
                "status": p.status,
                "signature": p.payment_hash,
                "created_at": p.created_at.isoformat(),
            }
            for p in lines
        ]
        listed = "; ".join(
            f"{i['amount']} {i['asset']} for {i['tool'] or i['url']} ({i['status']})" for i in items
        )
        return Reply(
            f"{len(items)} recent payment(s), newest first: {listed}.", {"payments": items}
        )

    def catalog(self, api_url: str | None = None) -> Reply:
        """The paid resources of a premium API (default: the configured one) and prices."""
        base = (api_url or self.agent.settings.premium_api_url).rstrip("/")
        if not base.startswith(("http://", "https://")):
            return Reply(f"api_url must be an http(s) URL, not {api_url!r}", {}, True)
        entries = self.agent.catalog.entries(base)
        if not entries:
            return Reply(f"No catalog at {base}/api/catalog.", {"api_url": base}, True)
        return Reply(f"{len(entries)} paid resource(s) at {base}.", {"api_url": base,
                     "resources": entries})  # fmt: skip

    def policy(self) -> dict[str, Any]:
        """The agent's policy and autonomy level (read-only)."""
        self.agent.forget("policy")
        self.agent.forget("level")
        p = self.agent.policy()
        return {
            "agent": self.agent.name,
            "address": self.agent.address,
            "autonomy": str(self.agent.level()),
            "per_request_cap": amount_text(p.per_request_cap),
            "hourly_cap": amount_text(p.hourly_cap),
            "daily_cap": amount_text(p.daily_cap),
            "allowed_assets": list(p.allowed_assets),
            "allowed_hosts": list(p.allowed_hosts),
            "allowed_recipients": list(p.allowed_recipients),
            "premium_api_url": self.agent.settings.premium_api_url,
        }

    # --------------------------------------------------------------- helpers
    def _check_target(self, url: str, asset: str | None) -> None:
        if asset is not None and asset not in ASSETS:
            raise ValueError(f"asset must be USDC or CASH, not {asset!r}")
        if mcp_target.is_mcp(url):
            mcp_target.parse(url)
        elif not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be http(s):// or mcp+http(s)://...#tool, not {url!r}")

    def _awaiting(self, rid: uuid.UUID, amount: Decimal | None, asset: str | None) -> Reply:
        link = f"{self.dashboard_url}/interactive?agent_id={self.agent.agent_id}"
        price = f" of {amount_text(amount)} {asset}" if amount is not None else ""
        text = (
            f"Awaiting approval: a person must approve this payment{price} on the dashboard "
            f"({link}). Nothing was paid yet. Call fetch_result with request_id {rid} "
            "later to get the result."
        )
        data = {
            "status": "AWAITING_APPROVAL",
            "request_id": str(rid),
            "dashboard": link,
            "amount": amount_text(amount),
            "asset": asset,
        }
        return Reply(text, data)

    def _result(self, result: FetchResult, offset: int = 0) -> Reply:
        rid = result.request_id
        if result.status == "AWAITING_APPROVAL":
            return self._awaiting(rid, result.amount, result.asset)
        payment = {
            "amount": amount_text(result.amount),
            "asset": result.asset,
            "signature": result.payment_hash,
            "explorer": result.explorer_url,
        }
        if result.status != "ACCESSED":
            advice = ADVICE.get(result.category or "", "")
            if "above the maximum" in (result.error or ""):
                advice = (
                    "Your max_amount is below the price: raise it only if the price is worth it."
                )
            text = f"Not bought ({result.category or result.status}): {result.error}. {advice}"
            data: dict[str, Any] = {
                "status": result.status,
                "request_id": str(rid),
                "category": result.category,
                "error": result.error,
                "payment": payment if result.payment_hash else None,
            }
            return Reply(text.strip(), data, True)
        body = json.dumps(result.data, default=str)
        part = body[offset : offset + self.max_chars]
        more = offset + len(part) < len(body)
        data = {
            "status": "ACCESSED",
            "request_id": str(rid),
            "payment": payment if result.payment_hash else None,
            "data": part,
            "offset": offset,
            "total_chars": len(body),
            "truncated": more,
        }
        paid = (
            f"Paid {payment['amount']} {payment['asset']} (tx {payment['signature']})."
            if result.payment_hash
            else "No payment was needed."
        )
        text = f"{paid} Data ({len(part)} of {len(body)} characters from {offset}): {part}"
        if more:
            data["next_offset"] = offset + len(part)
            text += (
                f" [truncated: call fetch_result with request_id {rid} and offset "
                f"{data['next_offset']} for the rest]"
            )
        return Reply(text, data)
