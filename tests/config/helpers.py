"""Profiles and key files shared by the settings tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A valid devnet profile with nothing outside the temporary directory.
BASE_PROFILE: dict[str, Any] = {
    "rpc": {
        "url": "https://rpc.example.test",
        "fallback_urls": ["https://fallback.example.test"],
        "genesis_hash": "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
    },
    "programs": [{"name": "slop_registry", "elf_path": "target/slop_registry.so"}],
    "fleet": {"known_hosts_file": "known_hosts", "batch_size": "1"},
    "mcp": {
        "mode": "fly",
        "fly_app": "slop-test",
        "machines_api_url": "http://127.0.0.1:9",
    },
    "mem0": {"kind": "postgresql", "dsn_file": "mem0.dsn"},
    "arweave": {
        "gateway_url": "https://gateway.example.test",
        "wallet_path": "wallet.json",
    },
}


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` and set its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path
