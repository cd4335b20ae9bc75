"""The ledger benchmark runs end to end at a small size and cleans up after itself."""

from __future__ import annotations

import re
from dataclasses import replace

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from tests.factories import scalar


def test_bench_ledger_reports_writes_and_queries(
    app: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    settings = app.config["AUTOPAY_SETTINGS"]
    app.config["AUTOPAY_SETTINGS"] = replace(settings, progress_interval_s=0.01)
    result = runner.invoke(args=["bench", "ledger", "--transactions", "40", "--audit-rows", "3000"])
    assert result.exit_code == 0, result.output
    # Off a terminal, progress lines while it works (on stderr), and the same table after.
    assert re.search(r"^writing session: \d+/400 transactions \(\d+%\), ", result.stderr, re.M)
    assert "ledger write: one demo session of 40 transactions" in result.stdout
    assert "ledger write" not in result.stderr
    # Each writer's time, rate and backend CPU per transaction (the server runs here).
    writers_ = (
        "5 INSERTs per commit",
        "1 statement per commit",
        "triggers audit",
        "audit triggers off",
        "+ spend trigger off",
    )
    for writer in writers_:
        for writers in (1, 8):
            row = rf"{re.escape(writer)}\s+{writers}\s+[\d.]+\s+\d+\s+\d+\s+\d+\.\d{{3}}$"
            assert re.search(row, result.stdout, re.M), result.stdout
    # The project's ratios to both floors, and the profile's: the project with the
    # status-audit triggers off, then the spend trigger too.
    for who in ("project", "profile: project, audit triggers off", "profile: project, + spend"):
        for floor in ("5 INSERTs per commit", "1 statement per commit"):
            for label in ("sequential", "8 writers, one agent each"):
                line = rf"^ratio \({re.escape(who)}.*/psycopg, {floor}, {label}\): \d+\.\d\d$"
                assert re.search(line, result.stdout, re.M), result.stdout
    # The project's rows are in the ledger (two sessions), audited by the triggers.
    assert re.search(
        r"^  project rows: 80 requests, 80 payments, 80 logs, 160 audit events$",
        result.stdout,
        re.M,
    ), result.stdout
    # The PostgreSQL side of the agent's paid request, alone: sequential (with its backend's
    # CPU) and 8 writers for one agent.
    assert "agent hot path: the PostgreSQL side of 40 paid requests" in result.stdout
    assert re.search(r"^\s+1\s+\d+(\s+\d+\.\d\d){4}\s+\d+\.\d\d$", result.stdout, re.M), (
        result.stdout
    )
    assert re.search(r"^\s+8\s+\d+(\s+\d+\.\d\d){4}\s+n/a$", result.stdout, re.M), result.stdout
    assert re.search(r"^paying \(hot path\): \d+/80 paid requests", result.stderr, re.M)
    # One status change's audit row alone: what each of the six of a paid request costs.
    assert re.search(r"^  audit event: \d+\.\d us backend CPU per status", result.stdout, re.M)
    for name in ("latest 50 for an agent", "type + severity", "full-text search"):
        assert re.search(rf"{re.escape(name)}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+x", result.output)
        assert f"EXPLAIN {name}:" in result.output
    leftover = scalar(session, "SELECT count(*) FROM pg_database WHERE datname LIKE '%_bench'")
    assert leftover == 0


def test_bench_dashboard_times_the_pages_at_each_size(
    app: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    args = ["bench", "dashboard", "--payments", "200,400", "--audit-rows", "1000", "--runs", "5"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    for size in ("200", "400"):
        assert re.search(
            rf"^dashboard pages, {size} payments and [\d,]+ audit events$", result.stdout, re.M
        ), result.stdout
    for page in ("overview", "overview cards", "spend chart", "payments list", "audit trail"):
        row = rf"^  {re.escape(page)}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+x$"
        assert len(re.findall(row, result.stdout, re.M)) == 2, result.stdout
    assert "overview statements (EXPLAIN)" in result.stdout
    leftover = scalar(session, "SELECT count(*) FROM pg_database WHERE datname LIKE '%_dashbench'")
    assert leftover == 0
