"""What a resource would cost and whether the policy would pay it: asked, never paid.

:func:`preview_url` GETs the resource (or calls the MCP tool) through the seller's
breaker exactly as the pipeline's ``ask`` step does, parses the 402 and runs
the policy's checks and the balance guard and spend windows on it, but writes no
request and signs nothing. The spend windows are read, not reserved: the
answer says what would happen now, and the payment itself is checked again
under the spend lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from autopay_app.agent import gateway, guard, io
from autopay_app.agent.context import AgentContext, policy
from autopay_app.agent.errors import AgentError, PolicyDenied
from autopay_app.agent.policy import Context, rank, to_tokens
from autopay_app.agent.states import FetchRequest
from autopay_app.agent.steps import _premium_defaults, unexpected_answer
from autopay_app.ledger import spend


@dataclass
class Preview:
    """The seller's price and the agent's verdict. ``allowed``: it would pay now."""

    url: str
    requires_payment: bool
    allowed: bool
    offers: list[dict[str, Any]] = field(default_factory=list)
    asset: str | None = None
    amount: Decimal | None = None
    refusal: str | None = None
    category: str | None = None


def preview_url(
    ctx: AgentContext, url: str, max_amount: Decimal | None = None, asset: str | None = None
) -> Preview:
    """Ask ``url`` for its price and check it against the policy, funds and spend windows."""
    request = FetchRequest(url, max_amount, asset)
    try:
        with ctx.http.fetch_deadline(ctx.settings.fetch_deadline_s):
            answer = io.seller_get(ctx, url)
        if 200 <= answer.status < 300:
            return Preview(url, requires_payment=False, allowed=True)
        if answer.status != 402:
            raise unexpected_answer(url, answer)
        info = gateway.parse_payment_required(answer.headers, answer.body)
    except AgentError as exc:
        return Preview(url, False, False, refusal=str(exc), category=exc.category)
    names = {mint: name for name, mint in ctx.mints.items()}
    offers = [
        {
            "asset": names.get(o.asset, o.asset),
            "amount": str(to_tokens(o.amount_atomic)),
            "pay_to": o.pay_to,
            "network": o.network,
        }
        for o in info.offers
    ]
    seen = Preview(url, requires_payment=True, allowed=False, offers=offers)
    try:
        choice = _choose(ctx, request, info)
        seen.asset, seen.amount = choice.asset, choice.amount
        _check_windows(ctx, request, choice.amount)
    except AgentError as exc:
        seen.refusal, seen.category = str(exc), exc.category
        return seen
    seen.allowed = True
    return seen


def _choose(ctx: AgentContext, request: FetchRequest, info: gateway.PaymentRequiredInfo) -> Any:
    hosts, recipients = _premium_defaults(ctx, {o.pay_to for o in info.offers})
    situation = Context(
        agent_address=ctx.address,
        host=request.host,
        mints=ctx.mints,
        max_amount=request.max_amount,
        asset=request.asset,
        catalog_price=ctx.catalog.prices(request.url),
        default_hosts=hosts,
        default_recipients=recipients,
    )
    choices = rank(info.offers, policy(ctx), situation)
    for choice in choices:
        if guard.has_funds(ctx, choice.asset, choice.amount):
            return choice
    guard.ensure_funds(ctx, choices[0].asset, choices[0].amount)  # raises with the top-up
    return choices[0]


def _check_windows(ctx: AgentContext, request: FetchRequest, amount: Decimal) -> None:
    """The spend windows as they stand (read, not reserved)."""
    rules = policy(ctx)
    with ctx.engine.connect() as conn:
        hour, day = spend.windows(conn, ctx.agent_id)
    if hour + amount > rules.hourly_cap:
        raise PolicyDenied(f"hourly cap {rules.hourly_cap}: {hour} spent, {amount} more refused")
    if day + amount > rules.daily_cap:
        raise PolicyDenied(f"daily cap {rules.daily_cap}: {day} spent, {amount} more refused")
