"""Configuration: defaults, environment, overrides, fail-fast errors, seller keypair."""

from __future__ import annotations

import json
import stat
from decimal import Decimal

import pytest
from click.testing import CliRunner
from solders.keypair import Keypair

from mock_premium_api import create_app
from mock_premium_api.cli import mock_api_cli
from mock_premium_api.config import (
    DEFAULT_CASH_MINT,
    ConfigError,
    ensure_seller_keypair,
    load_config,
    parse_price,
)

PAY_TO = str(Keypair().pubkey())


def test_defaults_follow_the_contract():
    config = load_config(environ={"MOCK_API_PAY_TO": PAY_TO})
    assert config.facilitator_url == "http://127.0.0.1:8403"
    assert config.rpc_url == "http://127.0.0.1:8899"
    assert config.usdc_mint == "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    assert config.cash_mint == DEFAULT_CASH_MINT
    assert config.cash_token_program == "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
    assert config.network == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    assert config.prices["/api/market-feed"] == {"USDC": Decimal("0.01"), "CASH": Decimal("0.01")}
    assert config.pay_to == PAY_TO


def test_environment_then_overrides():
    env = {
        "MOCK_API_PAY_TO": PAY_TO,
        "X402_FACILITATOR_URL": "https://facilitator.example/",
        "MOCK_API_SEED": "7",
        "MOCK_API_PRICES": json.dumps(
            {"/api/market-feed": "0.5", "/api/arbitrage-signals": {"CASH": "0.25"}}
        ),
    }
    config = load_config({"seed": 9}, environ=env)
    assert config.facilitator_url == "https://facilitator.example"
    assert config.seed == 9
    assert config.prices["/api/market-feed"] == {"USDC": Decimal("0.5"), "CASH": Decimal("0.5")}
    assert config.prices["/api/arbitrage-signals"] == {
        "USDC": Decimal("0.05"),
        "CASH": Decimal("0.25"),
    }


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("X402_FACILITATOR_URL", "ftp://nope"),
        ("SOLANA_RPC_URL", "localhost:8899"),
        ("MOCK_API_PAY_TO", "not-base58!"),
        ("USDC_MINT", "0OIl"),
        ("CASH_MINT", "short"),
        ("MOCK_API_SEED", "seven"),
        ("MOCK_API_PRICES", "{bad json"),
        ("MOCK_API_PRICES", '{"/api/unknown": "0.1"}'),
        ("MOCK_API_PRICES", '{"/api/market-feed": "0.0000001"}'),
        ("MOCK_API_PRICES", '{"/api/market-feed": "-1"}'),
        ("MOCK_API_PRICES", '{"/api/market-feed": {"BTC": "1"}}'),
        ("MOCK_API_FACILITATOR_TIMEOUT", "0"),
        ("MOCK_API_FAULTS", '{"delay_ms": -5}'),
        ("MOCK_API_FAULTS", "[1]"),
    ],
)
def test_bad_value_fails_fast_naming_the_variable(var, value):
    with pytest.raises(ConfigError) as excinfo:
        load_config(environ={"MOCK_API_PAY_TO": PAY_TO, var: value})
    message = str(excinfo.value)
    assert message.startswith(f"{var}: ")
    assert "\n" not in message


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown mock API setting 'colour'"):
        load_config({"colour": "blue"}, environ={"MOCK_API_PAY_TO": PAY_TO})


def test_seller_keypair_is_generated_once_with_mode_0600(tmp_path):
    first = load_config(environ={"MOCK_API_STATE_DIR": str(tmp_path / "state")})
    path = tmp_path / "state" / "seller-keypair.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = bytes(json.loads(path.read_text()))
    assert str(Keypair.from_bytes(secret).pubkey()) == first.pay_to
    assert ensure_seller_keypair(tmp_path / "state") == first.pay_to


def test_the_seller_keypair_lives_in_autopay_home_when_it_is_set(tmp_path):
    home = tmp_path / "home"
    config = load_config(environ={"AUTOPAY_HOME": str(home)})
    assert config.state_dir == str(home)
    assert (home / "seller-keypair.json").exists()
    chosen = load_config(environ={"AUTOPAY_HOME": str(home), "MOCK_API_STATE_DIR": str(tmp_path)})
    assert chosen.state_dir == str(tmp_path)


def test_corrupt_keypair_file_is_a_config_error(tmp_path):
    (tmp_path / "seller-keypair.json").write_text("[1, 2, 3]")
    with pytest.raises(ConfigError, match="not a Solana keypair"):
        ensure_seller_keypair(tmp_path)


@pytest.mark.parametrize("raw", ["0", "-0.01", "1e-7", "NaN", 0.1, True])
def test_parse_price_rejects(raw):
    with pytest.raises(ValueError):
        parse_price(raw)


def test_create_app_accepts_overrides_and_prices_dict():
    app = create_app({"pay_to": PAY_TO, "prices": {"/api/knowledge/sentiment": "0.03"}})
    state = app.extensions["mock_api"]
    assert state.config.prices["/api/knowledge/sentiment"]["CASH"] == Decimal("0.03")


def test_cli_reports_config_error_on_one_line():
    result = CliRunner().invoke(mock_api_cli, [], env={"MOCK_API_SEED": "x"})
    assert result.exit_code == 2
    assert "MOCK_API_SEED: " in result.output


def test_faults_from_the_environment_are_in_force_at_start():
    env = {"MOCK_API_PAY_TO": PAY_TO, "MOCK_API_FAULTS": '{"price_multiplier": 3, "delay_ms": 7}'}
    app = create_app(load_config(environ=env))
    faults = app.extensions["mock_api"].faults.current
    assert (faults.price_multiplier, faults.delay_ms) == (Decimal(3), 7)
