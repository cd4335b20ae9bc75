"""No private key and no decrypted session token in a database dump or the logs."""

from __future__ import annotations

import json
import logging
import secrets as random_secrets
from collections.abc import Iterator
from pathlib import Path

import base58
import pytest
from flask import Flask
from solders.keypair import Keypair
from sqlalchemy.orm import Session

from autopay_app.config import Settings
from autopay_app.devtools import seed
from autopay_app.devtools.secret_scan import (
    Secret,
    keypair_secrets,
    main,
    scan,
    session_token_secrets,
)
from autopay_app.ledger import agents
from autopay_app.ledger.backup import backup
from autopay_app.secrets import SecretBox
from tests.factories import query


def _write_keypair(path: Path) -> Keypair:
    keypair = Keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(bytes(keypair))))
    return keypair


@pytest.fixture()
def keys(settings: Settings) -> dict[str, Keypair]:
    """The agent's keypair under AUTOPAY_HOME and a seller's, as the harness writes them."""
    return {
        "agent": _write_keypair(settings.home / "agent-keypair.json"),
        "seller": _write_keypair(settings.home / "harness" / "seller-keypair.json"),
    }


@pytest.fixture()
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Everything logged while the test runs, SQL statements and parameters included."""
    path = tmp_path / "logs" / "app.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root, engine_log = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    old = root.level, engine_log.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_log.setLevel(logging.INFO)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old[0])
    engine_log.setLevel(old[1])


def _seed_with_token(session: Session, settings: Settings) -> tuple[str, SecretBox]:
    box = SecretBox(settings.secret_key or "")
    seed.seed_demo(session)
    agent = agents.get_by_name(session, seed.DEMO_AGENT)
    session.commit()
    token = "sess_" + random_secrets.token_urlsafe(24)
    agents.set_session_token(session, agent, token, box)
    return token, box


def test_dump_and_logs_hold_no_key_and_no_token(
    app: Flask,
    session: Session,
    settings: Settings,
    database_url: str,
    keys: dict[str, Keypair],
    log_file: Path,
    tmp_path: Path,
) -> None:
    token, box = _seed_with_token(session, settings)
    archive = backup(database_url, tmp_path / "dumps").path
    secrets = keypair_secrets(settings.home) + session_token_secrets(session, box)

    assert {s.label for s in secrets} == {
        "keypair agent-keypair.json",
        "keypair seller-keypair.json",
        f"session token of {seed.DEMO_AGENT}",
    }
    assert log_file.stat().st_size > 0 and archive.stat().st_size > 0
    assert scan([archive, log_file.parent], secrets) == []


def test_the_scanner_finds_planted_keys_and_tokens(
    app: Flask,
    session: Session,
    settings: Settings,
    database_url: str,
    keys: dict[str, Keypair],
    log_file: Path,
    tmp_path: Path,
) -> None:
    """Positive control: the same scan, with the secrets planted where they must not be."""
    token, box = _seed_with_token(session, settings)
    agent_key = json.dumps(list(bytes(keys["agent"])))
    query(
        session,
        "UPDATE api_requests SET request_payload = CAST(:p AS jsonb) "
        "WHERE id = (SELECT min(id::text)::uuid FROM api_requests) RETURNING id",
        p=json.dumps({"note": agent_key}),
    )
    stranger = Keypair()  # in no keypair file: found by its shape alone
    logging.getLogger("autopay.test").warning("leaked %s and %s", token, stranger)
    (tmp_path / "logs" / "seller.log").write_text(f"seed {bytes(keys['seller'])[:32].hex()}\n")
    archive = backup(database_url, tmp_path / "dumps").path
    secrets = keypair_secrets(settings.home) + session_token_secrets(session, box)

    found = {(f.path.name, f.label, f.form) for f in scan([archive, log_file.parent], secrets)}

    assert (archive.name, "keypair agent-keypair.json", "known secret") in found
    assert (archive.name, f"keypair {keys['agent'].pubkey()}", "keypair") in found
    assert ("app.log", f"session token of {seed.DEMO_AGENT}", "known secret") in found
    assert ("app.log", f"keypair {stranger.pubkey()}", "keypair") in found
    assert ("seller.log", "keypair seller-keypair.json", "known secret") in found
    planted = {
        "keypair agent-keypair.json",
        f"keypair {keys['agent'].pubkey()}",
        f"session token of {seed.DEMO_AGENT}",
        f"keypair {stranger.pubkey()}",
        "keypair seller-keypair.json",
    }
    assert {label for _, label, _ in found} == planted


def test_every_spelling_of_a_key_is_found(tmp_path: Path) -> None:
    keypair = Keypair()
    raw = bytes(keypair)
    secret = Secret.keypair("k", raw)
    for i, spelling in enumerate(
        [
            json.dumps(list(raw)),
            base58.b58encode(raw).decode(),
            raw[:32].hex(),
            base58.b58encode(raw[:32]).decode(),
        ]
    ):
        (tmp_path / f"{i}.txt").write_text(f"prefix {spelling} suffix")
    assert {f.path.name for f in scan([tmp_path], [secret])} == {f"{i}.txt" for i in range(4)}
    # A transaction signature is 64 bytes of base58 too, but not a keypair.
    (tmp_path / "sig.txt").write_text(str(keypair.sign_message(b"x")))
    assert scan([tmp_path / "sig.txt"], []) == []


def test_command_line_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keydir = tmp_path / "keys"
    keypair = _write_keypair(keydir / "id.json")
    clean, dirty = tmp_path / "clean.log", tmp_path / "dirty.log"
    clean.write_text("nothing to see\n")
    dirty.write_text(f"secret={base58.b58encode(bytes(keypair)).decode()}\n")
    assert main(["--keys", str(keydir), str(clean)]) == 0
    assert main(["--keys", str(keydir), "--token", "tok-123", str(dirty)]) == 1
    out = capsys.readouterr().out
    assert "dirty.log:1: keypair id.json (known secret)" in out
    assert str(keypair) not in out
