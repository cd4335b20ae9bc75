"""``autopay bench ...``: the benchmarks of :mod:`autopay_app.devtools.bench`.

Each prints a table and a ratio against a baseline measured in the same run, in
a scratch database of its own on the ledger's server.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from autopay_app.cli import context


@click.group("bench", invoke_without_command=True)
@click.option("--requests", "n", default=200, show_default=True, type=click.IntRange(10))
@click.option("--workers", "worker_counts", default="1,4,8", show_default=True)
@click.pass_context
def bench(ctx: click.Context, n: int, worker_counts: str) -> None:
    """Benchmarks (each prints a table and a ratio against a same-run baseline).

    Without a subcommand: the agent against the x402 SDK alone (``autopay bench
    agent``: the SDK's bare client and an SDK-only seller), with ``--requests`` and
    ``--workers``.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(agent_bench, n=n, worker_counts=worker_counts)


def _counts(listed: str, option: str = "--workers") -> list[int]:
    try:
        counts = [int(w) for w in listed.split(",")]
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers", param_hint=option) from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("each number must be at least 1", param_hint=option)
    return counts


@bench.command("agent")
@click.option("--requests", "n", default=200, show_default=True, type=click.IntRange(10))
@click.option("--workers", "worker_counts", default="1,4,8", show_default=True)
@with_appcontext
def agent_bench(n: int, worker_counts: str) -> None:
    """N paid fetches by each of four interleaved clients (the bare SDK client and the agent,
    each paying an SDK-only seller and the mock API); p50/p95/p99, req/s, the ratios, and
    CPU per paid request of each process."""
    from autopay_app.devtools.bench import agent

    counts = _counts(worker_counts)
    results = agent.run(context.settings(), context.database_url(), n, counts, context.progress)
    agent.report(results)


@bench.command("ledger")
@click.option("--transactions", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--audit-rows", default=1_000_000, show_default=True, type=click.IntRange(1000))
@click.option("--writers", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--keep", is_flag=True, help="Keep the scratch database afterwards.")
@with_appcontext
def ledger_bench(transactions: int, audit_rows: int, writers: int, keep: bool) -> None:
    """Write a demo session (the project's writer against a plain psycopg floor,
    sequentially and with WRITERS connections) and time the dashboard's audit queries
    at AUDIT_ROWS rows."""
    from autopay_app.devtools.bench import ledger

    write, figures = ledger.run(
        context.database_url(),
        transactions,
        audit_rows,
        context.progress,
        writers=writers,
        keep=keep,
    )
    ledger.report(write, figures, audit_rows)


@bench.command("dashboard")
@click.option(
    "--payments",
    "sizes",
    default="100000",
    show_default=True,
    help="Ledger sizes to time the pages at, comma-separated (e.g. 100000,1000000).",
)
@click.option("--audit-rows", default=1_000_000, show_default=True, type=click.IntRange(1000))
@click.option("--runs", default=40, show_default=True, type=click.IntRange(5))
@click.option("--keep", is_flag=True, help="Keep the scratch database (to EXPLAIN its queries).")
@with_appcontext
def dashboard_bench(sizes: str, audit_rows: int, runs: int, keep: bool) -> None:
    """Time the dashboard pages at each size of PAYMENTS (one ledger, grown) with
    AUDIT_ROWS audit events."""
    from autopay_app.devtools.bench import dashboard

    payments = _counts(sizes, "--payments")
    figures = dashboard.run(
        context.database_url(),
        context.settings(),
        payments,
        audit_rows,
        runs,
        context.progress,
        keep=keep,
    )
    dashboard.report(figures, runs)


@bench.command("prioritizer")
@click.option("--requests", "total", default=1_000_000, show_default=True, type=click.IntRange(1))
@click.option("--rounds", default=100, show_default=True, type=click.IntRange(20, 10_000))
@click.option("--keep", is_flag=True, help="Keep the scratch database afterwards.")
@with_appcontext
def prioritizer_bench(total: int, rounds: int, keep: bool) -> None:
    """Prioritizer decision time for 10, 100 and 1,000 APIs over REQUESTS ledger rows."""
    from autopay_app.devtools.bench import prioritizer

    figures = prioritizer.run(context.database_url(), total, rounds, context.progress, keep=keep)
    prioritizer.report(figures, total)


@bench.command("workers")
@click.option("--requests", "n", default=100, show_default=True, type=click.IntRange(10))
@click.option("--workers", "worker_counts", default="1,2,4", show_default=True)
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--agents",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Agents the throughput runs' jobs are spread over (each has its own spend lock).",
)
@with_appcontext
def workers_bench(n: int, worker_counts: str, concurrency: int, agents: int) -> None:
    """Paid fetches through the queue: the queue's added latency (defer to start) against a
    direct agent.fetch in the same run, and fetches per second with 1, 2 and 4 `autopay
    worker` processes, with the CPU they use."""
    from autopay_app.devtools.bench import workers

    counts = _counts(worker_counts)
    results = workers.run(
        context.settings(),
        context.database_url(),
        n,
        counts,
        concurrency,
        context.progress,
        agents=agents,
    )
    workers.report(results)
