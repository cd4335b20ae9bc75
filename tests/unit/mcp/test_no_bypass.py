"""The MCP server adds no way to move money: it reaches the agent only through the facade.

Checked on the source: ``autopay_app.mcp`` imports nothing that signs, reserves or
writes payments (the gateway, the steps, the pipeline, the ledger's payment writes);
paying is ``Agent.fetch``, the pipeline every other purchase takes.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.architecture.test_imports import PACKAGE, imported, modules

ALLOWED_AUTOPAY = {
    "autopay_app.agent.core",  # the facade: fetch, preview, balances, policy
    "autopay_app.agent.mcp_target",  # tool URLs (pure parsing)
    "autopay_app.agent.errors",
    "autopay_app.agent.result",
    "autopay_app.ledger.balances",  # top-up hint (pure)
    "autopay_app.ledger.wallet_reads",  # reads only
    "autopay_app.web.throttle",  # slowing wrong tokens
}


def test_the_mcp_package_reaches_the_agent_only_through_its_facade() -> None:
    known = set(modules(PACKAGE))
    mcp = modules(PACKAGE / "mcp")
    for name, path in mcp.items():
        ours = {m for m in imported(path, known) if m.startswith("autopay_app")}
        assert ours <= ALLOWED_AUTOPAY | set(mcp), (name, sorted(ours - ALLOWED_AUTOPAY))


def test_the_wallet_reads_write_nothing() -> None:
    source = (PACKAGE / "ledger" / "wallet_reads.py").read_text()
    for verb in ("INSERT", "UPDATE", "DELETE", ".add(", "sa.update", "sa.insert", "sa.delete"):
        assert verb not in source, verb
    assert Path(PACKAGE / "mcp" / "tools.py").read_text().count("self.agent.fetch(") == 1
