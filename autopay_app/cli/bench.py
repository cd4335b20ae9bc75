"""``autopay bench ...``: benchmarks that print a table of figures."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from autopay_app.cli import context
from autopay_app.ledger import bench as ledger_bench
from autopay_app.ledger import databases
from autopay_app.progress import Progress


@click.group("bench", invoke_without_command=True)
@click.option("--requests", "n", default=200, show_default=True, type=click.IntRange(10))
@click.option("--workers", "worker_counts", default="1,4,8", show_default=True)
@click.pass_context
def bench(ctx: click.Context, n: int, worker_counts: str) -> None:
    """Benchmarks (each prints a table and a ratio against a same-run baseline).

    Without a subcommand: the agent against the x402 SDK's bare client
    (``autopay bench agent``), with ``--requests`` and ``--workers``.
    """
    if ctx.invoked_subcommand is None:
        from autopay_app.cli.agent_bench import agent_bench

        ctx.invoke(agent_bench, n=n, worker_counts=worker_counts)


def _bar(label: str, total: int, unit: str) -> Progress:
    return context.progress(label, total=total, unit=unit)


@bench.command("ledger")
@click.option("--transactions", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--audit-rows", default=1_000_000, show_default=True, type=click.IntRange(1000))
@click.option("--keep", is_flag=True, help="Keep the scratch database afterwards.")
@with_appcontext
def ledger(transactions: int, audit_rows: int, keep: bool) -> None:
    """Write a demo session and time the dashboard's audit queries at AUDIT_ROWS rows."""
    base = context.database_url()
    name = f"{make_url(base).database}_bench"
    url = databases.create_database(base, name)
    try:
        databases.migrate(url)
        engine = create_engine(url)
        with _bar("writing session", transactions, "transactions") as bar:
            write = ledger_bench.write_session(engine, transactions, bar.advance)
        with _bar("filling audit_events", audit_rows, "rows") as bar:
            ledger_bench.fill_audit(engine, audit_rows, bar.advance)
        figures = ledger_bench.measure_queries(engine)
        engine.dispose()
    finally:
        if not keep:
            databases.drop_database(base, name)
    _report(write, figures, audit_rows)


def _report(
    write: ledger_bench.WriteFigure, figures: list[ledger_bench.QueryFigure], audit_rows: int
) -> None:
    click.echo("\nledger write: one demo session")
    click.echo(
        f"  transactions {write.transactions}  rows {write.rows}  "
        f"seconds {write.seconds:.2f}  rows/s {write.rows_per_second:,.0f}  "
        f"(target: 10,000 transactions < 10 s)"
    )
    click.echo(f"\naudit queries at {audit_rows:,} rows (ms)")
    click.echo(f"  {'query':<24} {'p50':>8} {'p95':>8} {'no-index p50':>13} {'ratio':>8}  index")
    for f in figures:
        ratio = f.baseline_p50_ms / f.p50_ms if f.p50_ms else float("inf")
        click.echo(
            f"  {f.name:<24} {f.p50_ms:8.2f} {f.p95_ms:8.2f} {f.baseline_p50_ms:13.2f} "
            f"{ratio:7.1f}x  {'yes' if f.uses_index else 'NO'}"
        )
    click.echo(
        "  (target: p95 < 20 ms each; ratio = speed-up of the indexes over a seq-scan "
        "baseline measured in this run)"
    )
    for f in figures:
        click.echo(f"\nEXPLAIN {f.name}:")
        for line in f.plan[:12]:
            click.echo(f"  {line}")


def _mount() -> None:
    """The other packages' benchmarks, under ``autopay bench``."""
    from autopay_app.cli.agent_bench import agent_bench
    from autopay_app.cli.monitor import prioritizer_bench
    from autopay_app.web.bench import dashboard_bench

    for command in (agent_bench, dashboard_bench, prioritizer_bench):
        bench.add_command(command)


_mount()
