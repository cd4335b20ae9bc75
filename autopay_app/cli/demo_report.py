"""The demo's closing summary, computed from the agent's fetch results and the ledger."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.agent.result import FetchResult
from autopay_app.models import RetryAttempt


@dataclass
class Summary:
    results: list[FetchResult] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0

    def add(self, result: FetchResult) -> None:
        self.results.append(result)

    def lines(self) -> list[str]:
        paid = [r for r in self.results if r.status == "ACCESSED" and r.payment_hash]
        spent: dict[str, Decimal] = {}
        for r in paid:
            spent[r.asset or "?"] = spent.get(r.asset or "?", Decimal(0)) + (r.amount or 0)
        failures = Counter(r.category or "UNKNOWN" for r in self.results if r.status == "FAILED")
        latencies = sorted(r.latency_ms for r in self.results if r.latency_ms is not None)
        out = [
            f"{'requests':<22}{len(self.results)}",
            f"{'paid and accessed':<22}{len(paid)}",
            *[f"{'spent ' + asset:<22}{amount}" for asset, amount in sorted(spent.items())],
            f"{'retries':<22}{self.retries}",
            f"{'failures':<22}{sum(failures.values())}"
            + (
                ""
                if not failures
                else "  (" + ", ".join(f"{k} {v}" for k, v in failures.most_common()) + ")"
            ),
        ]
        if latencies:
            p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
            out.append(
                f"{'latency p50 / p95':<22}{statistics.median(latencies):.0f} / "
                f"{p95:.0f} ms (seller round trip)"
            )
        if self.seconds:
            out.append(f"{'throughput':<22}{len(self.results) / self.seconds:.1f} requests/s")
        return out


def count_retries(session: Session, results: list[FetchResult]) -> int:
    ids = [r.request_id for r in results]
    if not ids:
        return 0
    with session.begin():
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(RetryAttempt)
                .where(RetryAttempt.api_request_id.in_(ids))
            )
            or 0
        )
