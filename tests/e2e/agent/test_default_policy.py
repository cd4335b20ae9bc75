"""The default policy: a new agent pays the configured premium API and nothing else.

Its host and the recipients its catalog names are allowed; another seller (here a
second, real mock API on another port, with its own wallet) is refused before
anything is signed, until ``autopay agent policy --allow-host/--allow-recipient``
opens the policy to it, exactly as the README says.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from werkzeug.wrappers import Response

from autopay_app.agent import Agent
from autopay_app.config import load_settings
from mock_premium_api.testing import MockApiInfo, run_mock_api
from tests.e2e.agent.conftest import Stack, agent_env
from tests.e2e.agent.ledger_checks import rows
from tests.e2e.agent.sellers import scripted_seller
from tests.e2e.agent.test_protocol import proxy_to

FEED = "/api/market-feed?symbols=SOL"


@pytest.fixture(scope="module")
def other_seller(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockApiInfo]:
    """A second real x402 seller, on another port, paid to another wallet."""
    h = stack.harness
    env = {"MOCK_API_STATE_DIR": str(tmp_path_factory.mktemp("other-seller"))}
    with run_mock_api(
        facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint, env=env
    ) as api:  # it makes sure of its own token accounts at start
        assert api.pay_to != stack.api.pay_to
        yield api


def _payments(engine: sa.Engine, request_id: object) -> int:
    return rows(engine, "SELECT count(*) FROM payments WHERE api_request_id = :r", r=request_id)[0][
        0
    ]


def autopay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_new_agent_pays_the_premium_api_and_refuses_another_host(
    stack: Stack, other_seller: MockApiInfo, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    assert agent.fetch(stack.url(FEED)).status == "ACCESSED"
    refused = agent.fetch(other_seller.url + FEED)
    assert (refused.status, refused.category) == ("FAILED", "POLICY_DENIED"), refused.error
    assert f"host {urlsplit(other_seller.url).netloc} is not allowed" in (refused.error or "")
    assert _payments(engine, refused.request_id) == 0


def test_a_recipient_the_premium_catalog_does_not_name_is_refused(
    stack: Stack,
    other_seller: MockApiInfo,
    engine: sa.Engine,
    tmp_path: Path,
) -> None:
    """The premium API's own host, but its 402 names another wallet: refused, not signed."""

    def pay_elsewhere(answer: Response) -> Response:
        if answer.status_code == 402:  # the other seller's 402 (its payTo), served here
            other = requests.get(other_seller.url + FEED, timeout=10)
            answer.headers["PAYMENT-REQUIRED"] = other.headers["PAYMENT-REQUIRED"]
            answer.set_data(other.content)
        return answer

    with scripted_seller(proxy_to(stack, pay_elsewhere)) as premium:
        settings = replace(
            load_settings({}),
            home=tmp_path,
            solana_rpc_url=stack.harness.rpc_url,
            premium_api_url=premium.url,
            cash_mint=stack.harness.cash_mint,
            keypair_path=tmp_path / "agent.json",
        )
        agent = Agent(settings, engine, retry_base=0.01, http_timeout=5.0)
        try:
            stack.harness.fund(agent.address, usdc=1, cash=0)
            refused = agent.fetch(premium.url + FEED)
        finally:
            agent.close()
    assert (refused.status, refused.category) == ("FAILED", "POLICY_DENIED"), refused.error
    assert f"recipient {other_seller.pay_to} is not allowed" in (refused.error or "")
    assert _payments(engine, refused.request_id) == 0


def test_autopay_agent_policy_opens_the_policy_to_another_seller(
    stack: Stack,
    other_seller: MockApiInfo,
    make_agent: Callable[..., Agent],
    tmp_path: Path,
    database_url: str,
) -> None:
    agent = make_agent()
    env = agent_env(stack, tmp_path, database_url)
    host = urlsplit(other_seller.url).netloc
    shown = autopay(env, "agent", "policy", "--agent", agent.name)
    assert shown.returncode == 0, shown.stderr
    assert f"{urlsplit(stack.api.url).netloc} (the premium API)" in shown.stdout
    opened = autopay(
        env,
        *("agent", "policy", "--agent", agent.name),
        *("--allow-host", host, "--allow-recipient", other_seller.pay_to),
    )
    assert opened.returncode == 0, opened.stderr
    assert host in opened.stdout and other_seller.pay_to in opened.stdout
    agent.forget("policy")
    paid = agent.fetch(other_seller.url + FEED)
    assert paid.status == "ACCESSED", paid.error
    assert agent.fetch(stack.url(FEED)).status == "ACCESSED"  # the premium API still is
    closed = autopay(env, "agent", "policy", "--agent", agent.name, "--revoke-host", host)
    assert closed.returncode == 0, closed.stderr
    agent.forget("policy")
    assert agent.fetch(other_seller.url + FEED).category == "POLICY_DENIED"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--allow-host", "https://evil.example/path"),
        ("--allow-host", "host:99999"),
        ("--allow-recipient", "not-an-address"),
    ],
)
def test_policy_entries_are_validated(
    stack: Stack, tmp_path: Path, database_url: str, option: str, value: str
) -> None:
    out = autopay(agent_env(stack, tmp_path, database_url), "agent", "policy", option, value)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert value in out.stderr
