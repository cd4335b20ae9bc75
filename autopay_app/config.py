"""Configuration: environment variables read once into one typed object.

Every variable has a safe default for a laptop demo against the local harness.
A bad value stops the application at start with a one-line error naming the
variable (:class:`~autopay_app.errors.ConfigError`).

| variable | default | meaning |
|---|---|---|
| DATABASE_URL | unset: embedded PostgreSQL under AUTOPAY_HOME | ledger database |
| SOLANA_RPC_URL | http://127.0.0.1:8899 | Solana JSON-RPC (harness or Devnet) |
| X402_FACILITATOR_URL | http://127.0.0.1:8403 | x402 facilitator |
| PREMIUM_API_URL | http://127.0.0.1:8402 | the premium API the agent buys from |
| AUTOPAY_KEYPAIR | AUTOPAY_HOME/agent-keypair.json | the agent's keypair file |
| AUTOPAY_SECRET_KEY | made once in AUTOPAY_HOME/secret.key | secrets at rest (>= 32 chars) |
| AUTOPAY_ADMIN_PASSWORD | unset: generated and printed by `autopay demo` | dashboard login |
| AUTOPAY_HOME | ./.autopay | local state (embedded database, keys, backups) |
| AUTOPAY_RETENTION_DAYS | 90 | audit trail retention |
| AUTOPAY_BACKUP_KEEP | 7 | backups kept by rotation |
| AUTOPAY_BACKUP_S3_BUCKET | unset | upload backups to this S3 bucket |
| AUTOPAY_BACKUP_S3_ENDPOINT | unset | S3-compatible endpoint URL (MinIO and the like) |
| AUTOPAY_BACKUP_S3_PREFIX | unset | key prefix of the backups in the bucket (``ledger/``) |
| AUTOPAY_BACKUP_S3_SSE | unset | server-side encryption: ``AES256`` or ``aws:kms`` |
| AUTOPAY_BACKUP_S3_KMS_KEY_ID | unset | KMS key of ``aws:kms`` (unset: the bucket's default) |
| AUTOPAY_PROGRESS_INTERVAL_S | 5 | seconds between progress lines of long commands off a terminal |
| AUTOPAY_HOST / AUTOPAY_PORT | 127.0.0.1 / 5000 | dashboard address |
| USDC_MINT | 4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU | Devnet USDC |
| CASH_MINT | 9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo | the harness's CASH stand-in |
| AUTOPAY_AGENT_NAME | agent-<first 8 of the public key> | the agent's ledger name |
| AUTOPAY_RETRY_BASE_S | 1.0 | retry backoff base: base, 2 base, 4 base (+ jitter) |
| AUTOPAY_HTTP_TIMEOUT_S | 10 | timeout of each read from a seller or the RPC |
| AUTOPAY_HTTP_DEADLINE_S | 30 | total deadline of one call to a seller (however it trickles) |
| AUTOPAY_FETCH_DEADLINE_S | 120 | total deadline of one paid request's calls to the seller |
| AUTOPAY_MAX_BODY_BYTES | 8388608 | a seller's answer over this is refused, read no further |
| AUTOPAY_API_TOKEN | generated once in AUTOPAY_HOME/api.token | bearer token of the JSON API |
| AUTOPAY_SECURE_COOKIES | auto | session cookie ``Secure``: auto (over HTTPS), always, never |
| AUTOPAY_WEB_WORKERS | 2 x CPUs + 1 (at most 8) | gunicorn worker processes of `autopay serve` |
| AUTOPAY_WEB_THREADS | 4 | threads per worker |
| AUTOPAY_SERVE_SCHEDULER | 1 | 0: `autopay serve` runs no scheduler (run `autopay scheduler`) |
| AUTOPAY_RATELIMIT_STORAGE_URL | memory:// (per process) | limits' storage: redis://h:6379/0 |
| AUTOPAY_PROXY_HOPS | 0 | reverse proxies in front of the app (X-Forwarded-* trusted) |

Every secret (DATABASE_URL, AUTOPAY_SECRET_KEY, AUTOPAY_ADMIN_PASSWORD,
AUTOPAY_API_TOKEN) may instead be read from a file named by ``<NAME>_FILE``
(Docker and Compose secrets, mounted under /run/secrets).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from autopay_app.errors import ConfigError

DEFAULT_RPC_URL = "http://127.0.0.1:8899"
DEFAULT_FACILITATOR_URL = "http://127.0.0.1:8403"
DEFAULT_PREMIUM_API_URL = "http://127.0.0.1:8402"
DEVNET_USDC_MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
#: The harness's Token-2022 stand-in for Phantom CASH (no Devnet mint exists).
LOCAL_CASH_MINT = "9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo"


@dataclass(frozen=True)
class Settings:
    """The application's configuration, validated."""

    home: Path
    database_url: str | None
    solana_rpc_url: str = DEFAULT_RPC_URL
    facilitator_url: str = DEFAULT_FACILITATOR_URL
    premium_api_url: str = DEFAULT_PREMIUM_API_URL
    keypair_path: Path | None = None
    secret_key: str | None = None
    admin_password: str | None = None
    retention_days: int = 90
    backup_keep: int = 7
    backup_s3_bucket: str | None = None
    backup_s3_endpoint: str | None = None
    backup_s3_prefix: str = ""
    backup_s3_sse: str | None = None
    backup_s3_kms_key_id: str | None = None
    progress_interval_s: float = 5.0
    host: str = "127.0.0.1"
    port: int = 5000
    usdc_mint: str = DEVNET_USDC_MINT
    cash_mint: str = LOCAL_CASH_MINT
    agent_name: str | None = None
    api_token: str | None = None
    retry_base_s: float = 1.0
    http_timeout_s: float = 10.0
    web_workers: int = 1
    web_threads: int = 4
    serve_scheduler: bool = True
    ratelimit_storage_url: str = "memory://"
    proxy_hops: int = 0
    http_deadline_s: float = 30.0
    fetch_deadline_s: float = 120.0
    max_body_bytes: int = 8 * 1024 * 1024
    secure_cookies: str = "auto"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def embedded_database(self) -> bool:
        """True when no DATABASE_URL is set and the embedded server is used."""
        return self.database_url is None

    @property
    def backup_dir(self) -> Path:
        return self.home / "backups"


def _url(
    env: Mapping[str, str],
    name: str,
    default: str | None,
    schemes: tuple[str, ...] = ("http", "https"),
) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.query):
        raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL, got {raw!r}")
    return raw


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _secret_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("AUTOPAY_SECRET_KEY", "")
    if raw and len(raw) < 32:
        raise ConfigError("AUTOPAY_SECRET_KEY must be at least 32 characters long")
    return raw or None


def _address(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        import base58

        if len(base58.b58decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    raise ConfigError(f"{name} must be a base58 Solana address, got {raw!r}")


#: S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens (the AWS rules).
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SSE_MODES = ("AES256", "aws:kms")


def _bucket(env: Mapping[str, str]) -> str | None:
    raw = env.get("AUTOPAY_BACKUP_S3_BUCKET", "").strip()
    if raw and not BUCKET_NAME.match(raw):
        raise ConfigError(
            f"AUTOPAY_BACKUP_S3_BUCKET must be an S3 bucket name "
            f"(3-63 lowercase letters, digits, dots, hyphens), got {raw!r}"
        )
    return raw or None


def _prefix(env: Mapping[str, str]) -> str:
    raw = env.get("AUTOPAY_BACKUP_S3_PREFIX", "").strip().lstrip("/")
    if len(raw) > 200 or not raw.isprintable() or "\\" in raw or ".." in raw.split("/"):
        raise ConfigError(f"AUTOPAY_BACKUP_S3_PREFIX must be a plain key prefix, got {raw!r}")
    return raw if not raw or raw.endswith("/") else raw + "/"


def _sse(env: Mapping[str, str]) -> str | None:
    raw = env.get("AUTOPAY_BACKUP_S3_SSE", "").strip()
    if not raw:
        return None
    for mode in SSE_MODES:
        if raw.lower() == mode.lower():
            return mode
    raise ConfigError(f"AUTOPAY_BACKUP_S3_SSE must be AES256 or aws:kms, got {raw!r}")


SECRET_VARIABLES = (
    "DATABASE_URL",
    "AUTOPAY_SECRET_KEY",
    "AUTOPAY_ADMIN_PASSWORD",
    "AUTOPAY_API_TOKEN",
)


def with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus each secret read from the file its ``<NAME>_FILE`` names (if unset).

    Raises:
        ConfigError: A ``*_FILE`` names a file that cannot be read, or an empty one.
    """
    out: MutableMapping[str, str] = dict(env)
    for name in SECRET_VARIABLES:
        path = env.get(f"{name}_FILE", "").strip()
        if not path or env.get(name):
            continue
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"{name}_FILE: {path} is empty")
        out[name] = value
    return dict(out)


def default_web_workers() -> int:
    """gunicorn's rule of thumb, 2 x CPUs + 1, capped at 8 (each worker is a whole app)."""
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {raw!r}")


def _ratelimit_storage(env: Mapping[str, str]) -> str:
    raw = env.get("AUTOPAY_RATELIMIT_STORAGE_URL", "").strip()
    if not raw:
        return "memory://"
    from limits.storage import SCHEMES  # the storages Flask-Limiter knows

    scheme = urlsplit(raw).scheme
    if "://" not in raw or scheme not in SCHEMES or scheme.startswith("async+"):
        raise ConfigError(
            "AUTOPAY_RATELIMIT_STORAGE_URL must be a Flask-Limiter storage URL such as "
            f"memory://, redis://HOST:6379/0 or memcached://HOST:11211, got {raw!r}"
        )
    return raw


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def normalise_database_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` URLs to the psycopg 3 driver.

    Query parameters such as ``?sslmode=require`` pass through to libpq.
    """
    scheme, _, rest = url.partition("://")
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    raise ConfigError(f"DATABASE_URL must be a postgresql:// URL, got scheme {scheme!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration from ``env`` (default: ``os.environ``).

    Raises:
        ConfigError: A variable is malformed; the message names it.
    """
    env = with_secret_files(os.environ if env is None else env)
    home = Path(env.get("AUTOPAY_HOME", "").strip() or ".autopay").absolute()
    database_url = _url(env, "DATABASE_URL", None, ("postgres", "postgresql", "postgresql+psycopg"))
    keypair = env.get("AUTOPAY_KEYPAIR", "").strip()
    host = env.get("AUTOPAY_HOST", "").strip() or "127.0.0.1"
    return Settings(
        home=home,
        database_url=normalise_database_url(database_url) if database_url else None,
        solana_rpc_url=_url(env, "SOLANA_RPC_URL", DEFAULT_RPC_URL) or DEFAULT_RPC_URL,
        facilitator_url=_url(env, "X402_FACILITATOR_URL", DEFAULT_FACILITATOR_URL)
        or DEFAULT_FACILITATOR_URL,
        premium_api_url=_url(env, "PREMIUM_API_URL", DEFAULT_PREMIUM_API_URL)
        or DEFAULT_PREMIUM_API_URL,
        keypair_path=Path(keypair) if keypair else home / "agent-keypair.json",
        secret_key=_secret_key(env),
        admin_password=env.get("AUTOPAY_ADMIN_PASSWORD") or None,
        retention_days=_int(env, "AUTOPAY_RETENTION_DAYS", 90, 1, 36500),
        backup_keep=_int(env, "AUTOPAY_BACKUP_KEEP", 7, 1, 1000),
        backup_s3_bucket=_bucket(env),
        backup_s3_endpoint=_url(env, "AUTOPAY_BACKUP_S3_ENDPOINT", None),
        backup_s3_prefix=_prefix(env),
        backup_s3_sse=_sse(env),
        backup_s3_kms_key_id=env.get("AUTOPAY_BACKUP_S3_KMS_KEY_ID", "").strip() or None,
        progress_interval_s=_float(env, "AUTOPAY_PROGRESS_INTERVAL_S", 5.0, 0.05, 3600.0),
        host=host,
        port=_int(env, "AUTOPAY_PORT", 5000, 1, 65535),
        usdc_mint=_address(env, "USDC_MINT", DEVNET_USDC_MINT),
        cash_mint=_address(env, "CASH_MINT", LOCAL_CASH_MINT),
        agent_name=(env.get("AUTOPAY_AGENT_NAME") or "").strip()[:100] or None,
        api_token=env.get("AUTOPAY_API_TOKEN") or None,
        retry_base_s=_float(env, "AUTOPAY_RETRY_BASE_S", 1.0, 0.0, 60.0),
        http_timeout_s=_float(env, "AUTOPAY_HTTP_TIMEOUT_S", 10.0, 0.1, 300.0),
        web_workers=_int(env, "AUTOPAY_WEB_WORKERS", default_web_workers(), 1, 64),
        web_threads=_int(env, "AUTOPAY_WEB_THREADS", 4, 1, 256),
        serve_scheduler=_bool(env, "AUTOPAY_SERVE_SCHEDULER", True),
        ratelimit_storage_url=_ratelimit_storage(env),
        proxy_hops=_int(env, "AUTOPAY_PROXY_HOPS", 0, 0, 10),
        http_deadline_s=_float(env, "AUTOPAY_HTTP_DEADLINE_S", 30.0, 0.1, 3600.0),
        fetch_deadline_s=_float(env, "AUTOPAY_FETCH_DEADLINE_S", 120.0, 0.1, 86400.0),
        max_body_bytes=_int(env, "AUTOPAY_MAX_BODY_BYTES", 8 * 1024 * 1024, 1024, 1 << 30),
        secure_cookies=_choice(env, "AUTOPAY_SECURE_COOKIES", ("auto", "always", "never")),
    )
