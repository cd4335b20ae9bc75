"""Fixtures: one harness process per test module, and funded keypairs."""

from __future__ import annotations

import warnings

import pytest
from solana.rpc.api import Client
from solders.keypair import Keypair

from harness.testing import HarnessInfo, run_harness


def pytest_configure(config: pytest.Config) -> None:
    # solana-py 0.39 deprecates its sync Client, which x402[svm] itself uses.
    config.addinivalue_line("filterwarnings", "ignore:Client is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:Client is deprecated:FutureWarning")
    config.addinivalue_line("filterwarnings", "ignore:.*is deprecated; use solana.rpc.models")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> HarnessInfo:
    with run_harness(tmp_path_factory.mktemp("harness-state")) as info:
        yield info


@pytest.fixture(scope="module")
def client(harness: HarnessInfo) -> Client:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rpc = Client(harness.rpc_url, timeout=10)
    yield rpc
    rpc._provider.session.close()


def make_funded(harness: HarnessInfo, sol: str = "2", usdc: str = "100", cash: str = "50"):
    """A new keypair funded through the faucet."""
    keypair = Keypair()
    harness.fund(str(keypair.pubkey()), sol=sol, usdc=usdc, cash=cash)
    return keypair


@pytest.fixture
def funded(harness: HarnessInfo) -> Keypair:
    return make_funded(harness)
