"""Choosing what to pay: one offer of a 402, or a classified refusal.

Checks run before anything is signed, in this order: the network is Solana
Devnet, the scheme is ``exact``, the mint is USDC or CASH and allowed, the fee
payer is not the agent itself (a hostile seller could make the agent pay the
fees or sign as fee payer), the recipient and host are allowed, the amount is
within the per-request cap and the caller's maximum, and the quote is not above
the catalog price by more than the allowed drift. Spend windows are checked
later, atomically, when the payment is reserved (:mod:`autopay_app.ledger.spend`).

Hosts and recipients: the agent pays the configured premium API
(``PREMIUM_API_URL``): its host, and the recipients (``payTo``) its catalog
names. Anything else needs an entry in the policy's allow-lists (``autopay
agent policy --allow-host HOST --allow-recipient ADDRESS``); ``*`` allows any.
A host entry is ``host:port``, or a bare host name for any port of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from autopay_app.agent.errors import PolicyDenied
from autopay_app.agent.gateway import DEVNET_NETWORKS, Offer
from autopay_app.models import SpendPolicy

DECIMALS = 6  # USDC and CASH both have 6 decimals


@dataclass(frozen=True)
class Choice:
    offer: Offer
    asset: str
    amount: Decimal


@dataclass(frozen=True)
class Context:
    agent_address: str
    host: str
    mints: dict[str, str]  # asset name -> mint
    max_amount: Decimal | None = None
    asset: str | None = None
    catalog_price: dict[str, Decimal] | None = None  # asset -> price
    #: Allowed besides the policy's lists: the premium API's host and catalog recipients.
    default_hosts: frozenset[str] = frozenset()
    default_recipients: frozenset[str] = frozenset()


def to_tokens(atomic: int) -> Decimal:
    return Decimal(atomic) / (Decimal(10) ** DECIMALS)


ANY = "*"


def host_allowed(netloc: str, listed: list[str], defaults: frozenset[str]) -> bool:
    """``netloc`` is a default host or listed (as ``host:port``, a bare host name, or ``*``)."""
    entries = {e.strip().lower() for e in listed} | {d.lower() for d in defaults}
    netloc = netloc.lower()
    return bool({ANY, netloc, urlsplit("//" + netloc).hostname or ""} & entries)


def recipient_allowed(pay_to: str, listed: list[str], defaults: frozenset[str]) -> bool:
    """``pay_to`` is a default recipient (the premium catalog's) or listed (or ``*`` is)."""
    entries = {e.strip() for e in listed} | set(defaults)
    return ANY in entries or pay_to in entries


def _refusal(offer: Offer, policy: SpendPolicy, ctx: Context) -> str | None:
    by_mint = {mint: name for name, mint in ctx.mints.items()}
    asset = by_mint.get(offer.asset)
    amount = to_tokens(offer.amount_atomic)
    checks = [
        (offer.network not in DEVNET_NETWORKS, f"network {offer.network} is not Solana Devnet"),
        (offer.scheme != "exact", f"scheme {offer.scheme} is not supported"),
        (asset is None, f"unknown mint {offer.asset}"),
        (asset is not None and asset not in policy.allowed_assets, f"{asset} is not allowed"),
        (ctx.asset is not None and asset != ctx.asset, f"{asset} is not the asked {ctx.asset}"),
        (offer.fee_payer is None, "no feePayer offered: the agent never pays fees itself"),
        (offer.fee_payer == ctx.agent_address, "feePayer is the agent's own wallet"),
        (offer.pay_to == ctx.agent_address, "payTo is the agent's own wallet"),
        (
            not host_allowed(ctx.host, policy.allowed_hosts, ctx.default_hosts),
            f"host {ctx.host} is not allowed (allow it: autopay agent policy --allow-host)",
        ),
        (
            not recipient_allowed(offer.pay_to, policy.allowed_recipients, ctx.default_recipients),
            f"recipient {offer.pay_to} is not allowed "
            + (
                "(allow it: autopay agent policy --allow-recipient)"
                if ctx.default_recipients
                else "(the premium API's catalog, which names the default ones, was not read)"
            ),
        ),
        (
            amount > policy.per_request_cap,
            f"{amount} is above the per-request cap {policy.per_request_cap}",
        ),
        (
            ctx.max_amount is not None and amount > ctx.max_amount,
            f"{amount} is above the maximum {ctx.max_amount}",
        ),
    ]
    for failed, reason in checks:
        if failed:
            return reason
    listed = (ctx.catalog_price or {}).get(asset or "")
    if listed is not None and amount > listed * (1 + policy.max_quote_drift):
        return f"quote {amount} is above the catalog price {listed} by more than the allowed drift"
    return None


def rank(offers: list[Offer], policy: SpendPolicy, ctx: Context) -> list[Choice]:
    """The allowed offers in the policy's asset preference order (cheapest first within it).

    Raises:
        PolicyDenied: No offer passes; the message gives each offer's reason.
    """
    by_mint = {mint: name for name, mint in ctx.mints.items()}
    allowed, reasons = [], []
    for offer in offers:
        reason = _refusal(offer, policy, ctx)
        if reason is None:
            allowed.append(offer)
        else:
            reasons.append(f"offer {offer.index}: {reason}")
    if not allowed:
        raise PolicyDenied("; ".join(reasons)[:2000])
    order = {name: i for i, name in enumerate(policy.allowed_assets)}
    allowed.sort(key=lambda o: (order.get(by_mint[o.asset], 99), o.amount_atomic))
    return [Choice(o, by_mint[o.asset], to_tokens(o.amount_atomic)) for o in allowed]
