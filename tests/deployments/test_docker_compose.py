"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "prefect-server", "worker"}


def test_server_uses_postgres(compose: dict[str, Any]) -> None:
    server = compose["services"]["prefect-server"]
    url = server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://prefect:")
    assert "@postgres:5432/prefect" in url
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["environment"]["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_server_published_on_loopback(compose: dict[str, Any]) -> None:
    ports = compose["services"]["prefect-server"]["ports"]
    assert ports == ["127.0.0.1:4200:4200"]


def test_no_default_password(compose: dict[str, Any]) -> None:
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${PREFECT_DB_PASSWORD:?")


def test_worker_built_from_project(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert worker["command"][:4] == ["prefect", "worker", "start", "--pool"]
    assert worker["command"][4] == "slopops-process"
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"


def test_dockerfile_installs_project_and_runs_worker() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert lines[next(i for i, x in enumerate(lines) if x.startswith("FROM"))] == (
        "FROM python:3.11-slim-bookworm"
    )
    assert "RUN pip install --no-cache-dir ." in lines
    assert "USER slopops" in lines
    for directory in ("config", "slopops", "flows", "tasks", "deployments"):
        assert f"COPY {directory} ./{directory}" in lines
    cmd = next(x for x in lines if x.startswith("CMD"))
    assert '"--pool", "slopops-process"' in cmd
