"""Scan database dumps and log files for private keys and decrypted session tokens.

``scan(paths, secrets)`` reads every file under ``paths`` (a ``pg_dump``
custom-format archive is first turned into SQL with ``pg_restore``) and reports

- each known secret (:class:`Secret`) in any of its spellings: a keypair as its
  JSON byte array (compact or spaced), base58, hex or base64, whole or as the
  32-byte seed; a session token verbatim;
- any Solana keypair at all, known or not: a 64-number JSON array or a base58
  string of 64 bytes whose second half is the public key of its first half.

Findings name the file, the line and the secret's label, never the secret.
Known secrets come from :func:`keypair_secrets` (every keypair file under a
directory, e.g. ``AUTOPAY_HOME`` and the harness's) and
:func:`session_token_secrets` (the agents' tokens, decrypted with the app's key).

Command line: ``python -m autopay_app.devtools.secret_scan --keys DIR [--token T] PATH...``
(exit status 1 when something is found).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import base58
from solders.keypair import Keypair
from sqlalchemy import select
from sqlalchemy.orm import Session

from autopay_app.models import Agent
from autopay_app.secrets import SecretBox

DUMP_MAGIC = b"PGDMP"
_JSON_ARRAY = re.compile(rb"\[\s*(?:\d{1,3}\s*,\s*){63}\d{1,3}\s*\]")
_BASE58 = re.compile(
    rb"(?<![1-9A-HJ-NP-Za-km-z])[1-9A-HJ-NP-Za-km-z]{86,88}(?![1-9A-HJ-NP-Za-km-z])"
)


@dataclass(frozen=True)
class Secret:
    """A value that must not appear anywhere, in each spelling it may take."""

    label: str
    forms: tuple[bytes, ...]

    @classmethod
    def token(cls, label: str, value: str) -> Secret:
        return cls(label, (value.encode(),))

    @classmethod
    def keypair(cls, label: str, raw: bytes) -> Secret:
        forms: list[bytes] = []
        for part in (raw, raw[:32]):
            numbers = list(part)
            forms += [
                json.dumps(numbers, separators=(",", ":")).encode(),
                json.dumps(numbers).encode(),
                base58.b58encode(part),
                part.hex().encode(),
                base64.b64encode(part),
            ]
        return cls(label, tuple(forms))


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    label: str
    form: str  # "known secret" or "keypair" (found by shape, listed or not)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.label} ({self.form})"


def _is_keypair(raw: bytes) -> bool:
    if len(raw) != 64:
        return False
    try:
        return bytes(Keypair.from_seed(raw[:32]).pubkey()) == raw[32:]
    except ValueError:
        return False


def read_keypair_file(path: Path) -> bytes | None:
    """The 64 bytes of a Solana CLI keypair file, or None when ``path`` is not one."""
    try:
        numbers = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(numbers, list) and len(numbers) == 64):
        return None
    if not all(isinstance(n, int) and 0 <= n <= 255 for n in numbers):
        return None
    raw = bytes(numbers)
    return raw if _is_keypair(raw) else None


def keypair_secrets(*directories: Path) -> list[Secret]:
    """Every keypair file (``*.json``) under ``directories``."""
    found = []
    for directory in directories:
        for path in sorted(Path(directory).rglob("*.json")):
            raw = read_keypair_file(path)
            if raw is not None:
                found.append(Secret.keypair(f"keypair {path.name}", raw))
    return found


def session_token_secrets(session: Session, box: SecretBox) -> list[Secret]:
    """The decrypted session token of every agent that has one."""
    from autopay_app.ledger.agents import read_session_token

    with session.begin():
        agents = session.scalars(select(Agent).where(Agent.session_token_hash.is_not(None)))
        tokens = [(a.name, read_session_token(a, box)) for a in agents]
    return [Secret.token(f"session token of {name}", t) for name, t in tokens if t]


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def _pg_restore() -> str:
    from autopay_app.embedded_db import embedded_bin_dir

    bundled = embedded_bin_dir() / "pg_restore"  # the newest: reads every older archive
    return str(bundled) if bundled.exists() else (shutil.which("pg_restore") or "pg_restore")


def readable(path: Path) -> bytes:
    """The file's bytes; a custom-format dump as the SQL it restores to (data included)."""
    data = path.read_bytes()
    if data.startswith(DUMP_MAGIC):
        out = subprocess.run(
            [_pg_restore(), "--file=-", str(path)], capture_output=True, check=True, timeout=600
        )
        return out.stdout
    return data


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _shaped_keypairs(data: bytes) -> Iterator[tuple[int, bytes]]:
    for match in _JSON_ARRAY.finditer(data):
        numbers = json.loads(match.group())
        if all(n <= 255 for n in numbers):
            yield match.start(), bytes(numbers)
    for match in _BASE58.finditer(data):
        try:
            yield match.start(), base58.b58decode(match.group())
        except ValueError:
            continue


def scan_bytes(path: Path, data: bytes, secrets: Iterable[Secret]) -> list[Finding]:
    findings = []
    for secret in secrets:
        for form in secret.forms:
            offset = data.find(form)
            if offset >= 0:
                findings.append(Finding(path, _line(data, offset), secret.label, "known secret"))
                break
    for offset, raw in _shaped_keypairs(data):
        if _is_keypair(raw):
            label = f"keypair {Keypair.from_bytes(raw).pubkey()}"
            findings.append(Finding(path, _line(data, offset), label, "keypair"))
    return findings


def scan(paths: Iterable[Path | str], secrets: Iterable[Secret]) -> list[Finding]:
    """Every place under ``paths`` where a secret or any Solana keypair appears."""
    secrets = list(secrets)
    findings: list[Finding] = []
    for path in _files(paths):
        findings += scan_bytes(path, readable(path), secrets)
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="files or directories to scan")
    parser.add_argument("--keys", action="append", type=Path, default=[], help="keypair dir")
    parser.add_argument("--token", action="append", default=[], help="a plaintext token")
    args = parser.parse_args(argv)
    secrets = keypair_secrets(*args.keys) + [
        Secret.token(f"token #{i}", t) for i, t in enumerate(args.token)
    ]
    findings = scan(args.paths, secrets)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s) in {sum(1 for _ in _files(args.paths))} file(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
