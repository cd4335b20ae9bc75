"""The chaos run's verdict: the chain and the ledger, read independently, must agree.

1. Every transfer the agent signed on chain is a VERIFIED payment of the ledger,
   with the same mint, recipient and amount, and every VERIFIED payment is on
   chain (per agent and asset, the balance change equals the VERIFIED sum).
2. No request is left without a terminal status once reconciled.
3. No request has two transfers.
4. No rolling hour or day of committed payments exceeds the agent's caps.
5. Every Phase 3 BUY decision has its paid-fetch job, naming it back.

Each agent's figures are also given per asset (USDC, CASH).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from autopay_app.agent.chain import Chain
from autopay_app.agent.errors import SignatureInvalid
from autopay_app.agent.verify import Expected, check
from autopay_app.ledger import queue


@dataclass
class Verdict:
    agent: str
    transfers_on_chain: int = 0
    verified_payments: int = 0
    violations: list[str] = field(default_factory=list)
    spent: dict[str, Decimal] = field(default_factory=dict)
    #: asset -> (transfers on chain, VERIFIED payments)
    by_asset: dict[str, tuple[int, int]] = field(default_factory=dict)


def agent_transfers(chain: Chain, owner: str) -> dict[str, dict[str, Any]]:
    """Every successful transaction the agent signed, by the agent's own signature."""
    out: dict[str, dict[str, Any]] = {}
    before = None
    while True:
        page = chain.signatures(owner, before)
        for entry in page:
            if entry.get("err") is not None:
                continue
            tx = chain.transaction(entry["signature"])
            if tx is None:
                continue
            message = tx["transaction"]["message"]
            signers = message["accountKeys"][: message["header"]["numRequiredSignatures"]]
            if owner in signers:
                out[tx["transaction"]["signatures"][signers.index(owner)]] = tx
        if len(page) < 1000:
            return out
        before = page[-1]["signature"]


def _payments(conn: sa.Connection, agent_id: Any) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.text(
                "SELECT id, api_request_id, status::text, payer_signature, asset_mint, pay_to, "
                "amount_atomic, amount, currency::text FROM payments WHERE agent_id = :a"
            ),
            {"a": agent_id},
        )
    )


def check_agent(
    conn: sa.Connection,
    chain: Chain,
    agent_id: Any,
    name: str,
    address: str,
    funded: dict[str, Decimal],
) -> Verdict:
    verdict = Verdict(name)
    on_chain = agent_transfers(chain, address)
    payments = {p.payer_signature: p for p in _payments(conn, agent_id) if p.payer_signature}
    verdict.transfers_on_chain = len(on_chain)
    per_request: Counter[Any] = Counter()
    for signature, tx in on_chain.items():
        payment = payments.get(signature)
        if payment is None:
            verdict.violations.append(f"{name}: transfer {signature[:12]} is not in the ledger")
            continue
        per_request[payment.api_request_id] += 1
        if payment.status != "VERIFIED":
            verdict.violations.append(
                f"{name}: payment {payment.id} is on chain but {payment.status}"
            )
        try:
            check(
                tx,
                Expected(
                    address,
                    signature,
                    payment.asset_mint,
                    payment.pay_to,
                    int(payment.amount_atomic),
                ),
            )
        except SignatureInvalid as exc:
            verdict.violations.append(f"{name}: payment {payment.id} differs on chain: {exc}")
    verified = [p for p in payments.values() if p.status == "VERIFIED"]
    verdict.verified_payments = len(verified)
    for p in verified:
        if p.payer_signature not in on_chain:
            verdict.violations.append(f"{name}: VERIFIED payment {p.id} is not on chain")
    for asset in ("USDC", "CASH"):
        moved = sum(1 for sig in on_chain if sig in payments and payments[sig].currency == asset)
        paid = sum(1 for p in verified if p.currency == asset)
        verdict.by_asset[asset] = (moved, paid)
    for request_id, n in per_request.items():
        if n > 1:
            verdict.violations.append(f"{name}: request {request_id} has {n} transfers")
    _balances(verdict, chain, address, funded, verified)
    return verdict


def _balances(
    verdict: Verdict, chain: Chain, address: str, funded: dict[str, Decimal], verified: list[sa.Row]
) -> None:
    now = chain.balances(address)
    for asset, have in (("USDC", now.usdc), ("CASH", now.cash)):
        spent = funded[asset] - have
        ledger = sum((p.amount for p in verified if p.currency == asset), Decimal(0))
        verdict.spent[asset] = spent
        if spent != ledger:
            verdict.violations.append(
                f"{verdict.agent}: {asset} moved {spent} on chain, "
                f"the ledger's VERIFIED sum is {ledger}"
            )


def unfinished_requests(conn: sa.Connection) -> int:
    return int(
        conn.scalar(
            sa.text("SELECT count(*) FROM api_requests WHERE status NOT IN ('ACCESSED', 'FAILED')")
        )
        or 0
    )


def double_payments(conn: sa.Connection) -> int:
    """Requests with more than one payment that is not FAILED (cheap enough to poll)."""
    return int(
        conn.scalar(
            sa.text(
                "SELECT count(*) FROM (SELECT api_request_id FROM payments "
                "WHERE status <> 'FAILED' GROUP BY api_request_id HAVING count(*) > 1) AS twice"
            )
        )
        or 0
    )


CAP_SQL = """
SELECT p.agent_id,
       max((SELECT sum(q.amount) FROM payments q WHERE q.agent_id = p.agent_id
            AND q.status <> 'FAILED' AND q.created_at BETWEEN p.created_at - interval '1 hour'
            AND p.created_at)) AS worst_hour,
       max((SELECT sum(q.amount) FROM payments q WHERE q.agent_id = p.agent_id
            AND q.status <> 'FAILED' AND q.created_at BETWEEN p.created_at - interval '1 day'
            AND p.created_at)) AS worst_day,
       s.hourly_cap, s.daily_cap
FROM payments p JOIN spend_policies s ON s.agent_id = p.agent_id
WHERE p.status <> 'FAILED'
GROUP BY p.agent_id, s.hourly_cap, s.daily_cap
"""


def cap_violations(conn: sa.Connection) -> list[str]:
    out = []
    for row in conn.execute(sa.text(CAP_SQL)):
        if row.worst_hour > row.hourly_cap:
            out.append(f"agent {row.agent_id}: {row.worst_hour} in an hour > cap {row.hourly_cap}")
        if row.worst_day > row.daily_cap:
            out.append(f"agent {row.agent_id}: {row.worst_day} in a day > cap {row.daily_cap}")
    return out


def decisions_without_jobs(conn: sa.Connection) -> list[str]:
    """BUY decisions whose job is missing or names another decision (none may exist)."""
    rows = conn.execute(
        sa.text(
            "SELECT e.id FROM audit_events e "
            "LEFT JOIN procrastinate.procrastinate_jobs j ON j.id = (e.details->>'job_id')::bigint "
            "WHERE e.event_type = 'AGENT_DECISION' AND e.details->>'decision' = 'BOUGHT' "
            "AND (j.id IS NULL OR j.args->>'decision_id' <> e.id::text)"
        )
    )
    return [f"decision {r.id} has no job" for r in rows]


def job_counts(conn: sa.Connection) -> dict[str, int]:
    """Paid-fetch jobs by status, and how many ran more than once (recovered or retried)."""
    rows = conn.execute(
        sa.text(
            "SELECT status::text, count(*), count(*) FILTER (WHERE attempts > 1) "
            "FROM procrastinate.procrastinate_jobs WHERE task_name = 'paid_fetch' GROUP BY 1"
        )
    ).all()
    names = {queue.QUEUED: "queued (never started)", queue.RUNNING: "running"}
    out = {names.get(str(r[0]), str(r[0])): int(r[1]) for r in rows}
    out["run again"] = sum(int(r[2]) for r in rows)
    return out
