"""Session tokens are encrypted with AES-GCM under a key derived from AUTOPAY_SECRET_KEY."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from autopay_app.errors import SecretError
from autopay_app.ledger import agents
from autopay_app.secrets import SecretBox, load_or_create_key_material
from tests.factories import make_agent, scalar

KEY = "k" * 32


def test_round_trip_and_ciphertext_is_not_plaintext() -> None:
    box = SecretBox(KEY)
    blob = box.encrypt("session-token-123")
    assert b"session-token-123" not in blob
    assert box.decrypt(blob) == "session-token-123"
    assert box.encrypt("x") != box.encrypt("x")  # fresh nonce each time


def test_wrong_key_fails_loudly() -> None:
    blob = SecretBox(KEY).encrypt("secret")
    with pytest.raises(SecretError, match="another AUTOPAY_SECRET_KEY"):
        SecretBox("z" * 32).decrypt(blob)


def test_tampered_or_foreign_ciphertext_fails() -> None:
    box = SecretBox(KEY)
    blob = bytearray(box.encrypt("secret"))
    blob[-1] ^= 1
    with pytest.raises(SecretError):
        box.decrypt(bytes(blob))
    with pytest.raises(SecretError, match="not an Autopay secret"):
        box.decrypt(b"plain")


def test_short_key_is_refused() -> None:
    with pytest.raises(SecretError, match="32 characters"):
        SecretBox("short")


def test_generated_key_is_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_key_material(None, tmp_path)
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    assert len(first) >= 32
    assert load_or_create_key_material(None, tmp_path) == first
    assert load_or_create_key_material(KEY, tmp_path) == KEY


def test_token_stored_encrypted_and_bound_to_its_agent(session: Session) -> None:
    box = SecretBox(KEY)
    with session.begin():
        agent, other = make_agent(session), make_agent(session)
    agents.set_session_token(session, agent, "tok-abc", box)
    raw = scalar(session, "SELECT session_token_hash FROM agents WHERE id = :i", i=agent.id)
    assert b"tok-abc" not in bytes(raw)
    assert agents.read_session_token(agent, box) == "tok-abc"
    other.session_token_hash = agent.session_token_hash  # copied to another row
    with pytest.raises(SecretError):
        agents.read_session_token(other, box)
