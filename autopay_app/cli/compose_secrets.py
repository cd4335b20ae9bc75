"""``autopay compose-secrets``: the secret files docker-compose.yml mounts under /run/secrets.

Writes, once (an existing file is kept), into ``deploy/secrets/``: the PostgreSQL
password, the ``DATABASE_URL`` that uses it, ``AUTOPAY_SECRET_KEY``, the admin
password and the agent's keypair (Solana CLI format). The directory is 0700; the
files are 0644 because Compose bind-mounts them as they are and the image's
user (uid 10001) must read them; the directory keeps them private on the host.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

DEFAULT_DIR = Path("deploy/secrets")


def _write(path: Path, text: str) -> bool:
    if path.exists():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.chmod(path, 0o644)  # whatever the umask
    return True


def write_compose_secrets(directory: Path) -> list[str]:
    """Create the missing secret files in ``directory``; return the names written."""
    from solders.keypair import Keypair

    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    password_file = directory / "postgres_password"
    written = [password_file.name] if _write(password_file, secrets.token_urlsafe(24)) else []
    password = password_file.read_text().strip()
    values = {
        "database_url": f"postgresql://autopay:{password}@postgres:5432/autopay",
        "autopay_secret_key": secrets.token_urlsafe(48),
        "autopay_admin_password": secrets.token_urlsafe(16),
        "agent_keypair.json": json.dumps(list(bytes(Keypair()))),
    }
    written += [name for name, value in values.items() if _write(directory / name, value)]
    return written


@click.command("compose-secrets")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
)
def compose_secrets(directory: Path) -> None:
    """Create the secret files docker-compose.yml needs (existing ones are kept)."""
    written = write_compose_secrets(directory)
    for name in written:
        click.echo(f"wrote {directory / name}")
    if not written:
        click.echo(f"{directory}: every secret is there already")
    click.echo(f"admin password: {(directory / 'autopay_admin_password').read_text().strip()}")
