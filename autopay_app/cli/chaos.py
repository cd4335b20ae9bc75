"""``autopay chaos``: prove, under seeded random faults, that nothing is lost or paid twice."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from autopay_app.cli import context


@click.command("chaos")
@click.option("--requests", "n", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--minutes",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Stop injecting after this long even if fewer requests were made.",
)
@with_appcontext
def chaos(n: int, seed: int, minutes: float) -> None:
    """Run the stack under faults for N requests, then check chain against ledger."""
    from autopay_app.devtools.chaos.run import Chaos, Report

    counters = ("faults", "violations")
    with context.progress(f"chaos (seed {seed})", total=n, counters=counters) as bar:

        def show(so_far: Report) -> None:
            bar.update_to(so_far.requests)
            bar.set_count("faults", sum(c for k, c in so_far.faults.items() if k != "none"))
            bar.set_count("violations", so_far.live_violations)

        report = Chaos(
            context.settings(), requests=n, seed=seed, minutes=minutes, progress=show
        ).run()
    click.echo(f"\nrequests            {report.requests}")
    click.echo(
        f"seconds             {report.seconds:.1f}  "
        f"({report.requests / max(report.seconds, 1e-9):.1f} requests/s under fire)"
    )
    click.echo(
        "faults injected     " + ", ".join(f"{k} {v}" for k, v in report.faults.most_common())
    )
    click.echo(f"process restarts    {report.restarts}  (scheduler and workers, after SIGKILL)")
    click.echo("paid-fetch jobs     " + ", ".join(f"{k} {v}" for k, v in report.jobs.items()))
    click.echo(f"postgres restarts   {report.pg_restarts}  (immediate-mode stop)")
    for v in report.verdicts:
        for asset, (moved, verified) in sorted(v.by_asset.items()):
            click.echo(
                f"{v.agent + ' ' + asset:<20}transfers on chain {moved}, VERIFIED payments "
                f"{verified}, spent {v.spent.get(asset)}"
            )
    known, files = report.scanned
    click.echo(
        f"secret scan         {known} keys and session tokens looked for in a dump and "
        f"{files - 1} logs"
    )
    click.echo(f"violations          {len(report.violations)}")
    for line in report.violations[:50]:
        click.echo(f"  VIOLATION {line}")
    click.echo(f"logs                {', '.join(str(p) for p in report.logs)}")
    if report.violations:
        raise SystemExit(1)
