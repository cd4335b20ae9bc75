"""End-to-end fixtures: a real harness, a real mock API, real x402 clients.

One harness and one mock API per session (subprocesses on loopback ports);
each test gets a freshly funded buyer, and fault knobs (the API's and the
harness's) are reset after every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from solders.keypair import Keypair

from harness.testing import HarnessInfo, run_harness
from mock_premium_api.testing import MockApiInfo, run_mock_api
from tests.e2e.mock_api.mock_api_helpers import TOKEN_PROGRAM, Buyer, Chain

FACILITATOR_TIMEOUT = "2"


def pytest_configure(config: pytest.Config) -> None:
    # solana-py 0.39 deprecates its sync Client, which x402[svm] still uses.
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:Client is deprecated; use solana\.rpc\.async_api\.AsyncClient instead",
    )


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessInfo]:
    """A running harness (local Solana + facilitator)."""
    with run_harness(tmp_path_factory.mktemp("harness")) as info:
        yield info


@pytest.fixture(scope="session")
def api(harness: HarnessInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockApiInfo]:
    """The mock API, with a generated seller keypair whose token accounts exist."""
    env = {
        "MOCK_API_STATE_DIR": str(tmp_path_factory.mktemp("mock-api-state")),
        "MOCK_API_FACILITATOR_TIMEOUT": FACILITATOR_TIMEOUT,
        "CASH_TOKEN_PROGRAM": harness.cash_token_program,
        "USDC_MINT": harness.usdc_mint,
    }
    with run_mock_api(
        facilitator_url=harness.facilitator_url,
        rpc_url=harness.rpc_url,
        cash_mint=harness.cash_mint,
        env=env,
    ) as info:
        yield info


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "api" in request.fixturenames:
        api_info = request.getfixturevalue("api")
        requests.delete(api_info.url + "/_mock/faults", timeout=5)
        request.getfixturevalue("harness").clear_faults()


@pytest.fixture(scope="session")
def chain(harness: HarnessInfo) -> Chain:
    """JSON-RPC reader of the harness chain."""
    return Chain(harness.rpc_url)


@pytest.fixture
def buyer(harness: HarnessInfo) -> Iterator[Buyer]:
    """A new wallet with 1 SOL, 5 USDC and 5 CASH."""
    keypair = Keypair()
    harness.fund(str(keypair.pubkey()), sol=1, usdc=5, cash=5)
    wallet = Buyer(keypair, harness)
    yield wallet
    wallet.close()


@pytest.fixture(scope="session")
def assets(harness: HarnessInfo) -> dict[str, tuple[str, str]]:
    """Symbol -> (mint, token program) as the harness created them."""
    return {
        "USDC": (harness.usdc_mint, TOKEN_PROGRAM),
        "CASH": (harness.cash_mint, harness.cash_token_program),
    }
