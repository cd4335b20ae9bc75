"""docker-compose.yml, the Dockerfile and .dockerignore describe a deployment that works.

The compose file is parsed and validated by a real Compose implementation
(``docker-compose config``, or the ``docker compose`` plugin; neither needs a
Docker engine for that), against secret files made by ``autopay compose-secrets``,
and its resolved form is checked for what a working deployment needs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from solders.keypair import Keypair

from autopay_app.cli.compose_secrets import write_compose_secrets
from autopay_app.embedded_db import embedded_bin_dir

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "harness", "mock-api", "app", "scheduler"}
OURS = {"harness", "mock-api", "app", "scheduler"}


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    pytest.skip("no Compose implementation (docker-compose or docker compose): make compose-deps")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of the project's compose file, parsed."""
    command = _compose_command()
    project = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, project / name)
    write_compose_secrets(project / "deploy" / "secrets")
    done = subprocess.run(
        [*command, "-f", str(project / "docker-compose.yml"), "config"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_compose_file_validates_with_every_service_healthchecked(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_app_runs_under_gunicorn_and_the_scheduler_on_its_own(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    app = " ".join(services["app"]["command"])
    assert "autopay db upgrade" in app and "autopay serve" in app and "--no-scheduler" in app
    assert services["scheduler"]["command"] == ["autopay", "scheduler"]
    assert services["app"]["environment"]["AUTOPAY_RATELIMIT_STORAGE_URL"].startswith("redis://")
    for name in OURS:
        assert services[name]["build"]["context"], name


def test_the_secrets_the_app_needs_come_from_files(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    needed = {"database_url", "autopay_secret_key", "autopay_admin_password", "agent_keypair"}
    for name in ("app", "scheduler"):
        mounted = {s if isinstance(s, str) else s["source"] for s in services[name]["secrets"]}
        assert mounted == needed, name
        env = services[name]["environment"]
        assert env["DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert env["AUTOPAY_SECRET_KEY_FILE"] == "/run/secrets/autopay_secret_key"
        assert env["AUTOPAY_KEYPAIR"] == "/run/secrets/agent_keypair"
        assert "DATABASE_URL" not in env and "AUTOPAY_SECRET_KEY" not in env
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    for name, secret in resolved["secrets"].items():
        assert Path(secret["file"]).is_file(), name


def test_compose_secrets_fit_together(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    assert len(write_compose_secrets(directory)) == 5
    assert write_compose_secrets(directory) == []  # never overwritten
    assert directory.stat().st_mode & 0o777 == 0o700
    password = (directory / "postgres_password").read_text().strip()
    url = (directory / "database_url").read_text().strip()
    assert url == f"postgresql://autopay:{password}@postgres:5432/autopay"
    assert len((directory / "autopay_secret_key").read_text().strip()) >= 32
    keypair = json.loads((directory / "agent_keypair.json").read_text())
    assert Keypair.from_bytes(bytes(keypair)).pubkey()


def test_volumes_are_the_home_of_the_images_user(resolved: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER autopay" in dockerfile and "AUTOPAY_HOME=/var/lib/autopay" in dockerfile
    assert re.search(r"install -d -o autopay -g autopay -m 0700 /var/lib/autopay", dockerfile)
    assert "pip install -e" not in dockerfile  # installed, not editable: migrations inside
    named = set(resolved["volumes"])
    for name in OURS:
        mounts = [
            v if isinstance(v, str) else f"{v['source']}:{v['target']}"
            for v in resolved["services"][name]["volumes"]
        ]
        assert any(
            m.split(":")[0] in named and m.split(":")[1] == "/var/lib/autopay" for m in mounts
        ), name


def test_postgres_matches_the_backup_tools_major(resolved: dict[str, Any]) -> None:
    image = resolved["services"]["postgres"]["image"]
    server_major = int(image.split(":")[1].split(".")[0])
    version = subprocess.run(
        [str(embedded_bin_dir() / "pg_dump"), "--version"], capture_output=True, text=True
    ).stdout
    assert int(re.search(r"(\d+)\.", version).group(1)) == server_major  # type: ignore[union-attr]


def test_dockerignore_keeps_state_and_caches_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for entry in (".autopay/", ".venv/", "**/__pycache__/", ".pytest_cache/", "deploy/secrets/"):
        assert entry in ignored, entry
