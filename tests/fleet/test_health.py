"""The node-side health poll, run here with and without curl on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from slopops.fleet.health import TIMEOUT_STATUS, health_command
from slopops.stack.process import free_port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"release": "R1", "pid": 1}).encode()
        if self.path == "/nested":
            # The nested "release" comes last, where a greedy match finds it.
            body = json.dumps({"release": "R1", "build": {"release": "base-7"}})
            body = body.encode()
        self.send_response(200 if self.path in ("/health", "/nested") else 404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[str]:
    port = free_port("127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["curl", "node"])
def path_variable(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """PATH with curl, or a PATH that has node but no curl."""
    if request.param == "curl":
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        return os.environ["PATH"]
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node)
    return str(bin_dir)


def _poll(
    command: str,
    path_variable: str,
    timeout: float = 30,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env={"PATH": path_variable, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_expected_release_passes(health_url: str, path_variable: str) -> None:
    result = _poll(health_command(f"{health_url}/health", "R1", 5, 0.1), path_variable)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["release"] == "R1"


def test_any_release_passes_probe(health_url: str, path_variable: str) -> None:
    result = _poll(health_command(f"{health_url}/health", "", 0, 0.1), path_variable)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["release"] == "R1"


def test_other_release_times_out(health_url: str, path_variable: str) -> None:
    result = _poll(
        health_command(f"{health_url}/health", "R2", 0.5, 0.1), path_variable
    )
    assert result.returncode == TIMEOUT_STATUS
    assert result.stderr.strip() == 'release "R1" answered, expected R2'


def test_http_error_is_reported(health_url: str, path_variable: str) -> None:
    result = _poll(health_command(f"{health_url}/other", "R1", 0.3, 0.1), path_variable)
    assert result.returncode == TIMEOUT_STATUS
    assert result.stderr.startswith("HTTP 404: ")


def test_refused_connection_is_reported(path_variable: str) -> None:
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/health"
    result = _poll(health_command(url, "R1", 0.3, 0.1), path_variable)
    assert result.returncode == TIMEOUT_STATUS
    # curl and Node.js word the refused connection differently.
    assert "Failed to connect" in result.stderr or "ECONNREFUSED" in result.stderr


def test_nested_release_key_passes(health_url: str, path_variable: str) -> None:
    result = _poll(health_command(f"{health_url}/nested", "R1", 5, 0.1), path_variable)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["release"] == "R1"


def test_proxy_variables_are_ignored(health_url: str, path_variable: str) -> None:
    # Nothing listens on port 9 (discard), so a poll through the proxy fails.
    proxy = "http://127.0.0.1:9"
    result = _poll(
        health_command(f"{health_url}/health", "R1", 2, 0.1),
        path_variable,
        extra_env={"http_proxy": proxy, "HTTP_PROXY": proxy, "all_proxy": proxy},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["release"] == "R1"
