"""Keypair files: 64-byte JSON arrays, written with mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair

from slopops.solana import KeypairError, load_keypair, save_keypair


def test_round_trip_private(tmp_path: Path) -> None:
    keypair = Keypair()
    path = tmp_path / "keys" / "buffer.json"

    save_keypair(path, keypair)

    assert load_keypair(path) == keypair
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_file_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "buffer.json"
    save_keypair(path, Keypair())

    with pytest.raises(FileExistsError):
        save_keypair(path, Keypair())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2, 3]", "64 bytes"),
        ("not json", "not readable JSON"),
        ("[" + ",".join(["300"] * 64) + "]", "64 bytes"),
    ],
    ids=["short", "not-json", "out-of-range"],
)
def test_invalid_file_raises(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)

    with pytest.raises(KeypairError, match=problem):
        load_keypair(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(KeypairError, match="not found"):
        load_keypair(tmp_path / "missing.json")
