"""Starting and stopping the local chain as a subprocess, and its command line."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest
from solana.rpc.async_api import AsyncClient

from slopops.localnet import start_localnet
from slopops.localnet.launch import is_healthy
from slopops.stack.errors import PortInUseError
from slopops.stack.process import free_port, spawn
from tests.localnet.chain import rpc

# Pinned by the settings profiles: changing the derivation breaks every profile.
PINNED_GENESIS_HASHES = {
    "local": "F96DuMLvcwNiaDbDdD1DFzAA1Ed6FnhPB1QpmnGsHzJM",
    "devnet": "67feRf1jVhA5RtZuqRxuDZKhRsonWvMnK4UTq3NqGaac",
    "mainnet-beta": "5KBvJaAanekCcJMF9DBAvGFmmwxEbHZ1MnojErJoaFEJ",
}


async def test_genesis_hash_per_seed(localnet_factory):
    for seed, expected in PINNED_GENESIS_HASHES.items():
        chain = localnet_factory(seed)
        async with AsyncClient(chain.url) as client:
            served = (await client.get_genesis_hash()).value
            blockhash = (await client.get_latest_blockhash()).value.blockhash
        assert str(served) == expected, seed
        assert chain.genesis_hash == expected, seed
        assert str(blockhash) != expected


def test_cli_binds_loopback_by_default(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    slopops = Path(sys.executable).with_name("slopops")
    service = spawn(
        "localnet-cli",
        [str(slopops), "localnet", "--port", str(port), "--seed", "devnet"],
        url=url,
        log_path=tmp_path / "localnet.log",
        ready=lambda: is_healthy(url),
        timeout_seconds=30,
    )
    try:
        listening = {
            connection.laddr
            for connection in psutil.Process(service.pid).net_connections("tcp")
            if connection.status == psutil.CONN_LISTEN
        }
        rpc(url, "getEverything")
    finally:
        service.stop()
    log = service.log_path.read_text()
    assert listening == {("127.0.0.1", port)}
    assert "starting at http://127.0.0.1:" in log
    assert "getEverything (id 7) failed with -32601" in log
    assert "stopped at slot 0" in log


def test_start_refuses_a_taken_port(localnet, tmp_path: Path):
    used_port = int(localnet.url.rsplit(":", 1)[1])
    with pytest.raises(PortInUseError, match=str(used_port)):
        start_localnet(seed="test", port=used_port, state_dir=tmp_path)


def test_stop_ends_process_and_removes_pid_file(tmp_path: Path):
    service = start_localnet(seed="stop", port=free_port(), state_dir=tmp_path)
    assert service.pid_path is not None
    assert service.pid_path.read_text().strip() == str(service.pid)
    service.stop()
    assert not service.is_running()
    assert not service.pid_path.exists()
    assert not is_healthy(service.url)
