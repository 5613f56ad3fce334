"""Program ELFs read from LiteSVM."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from slopops.localnet.builtin_programs import (
    associated_token_elf,
    builtin_program_elf,
    elf_size,
    memo_v1_elf,
    memo_v3_elf,
    write_program_so,
)
from slopops.localnet.errors import ProgramNotFoundError


@pytest.mark.parametrize(
    ("read", "size"),
    [(memo_v3_elf, 2_304), (memo_v1_elf, 17_280), (associated_token_elf, 105_032)],
)
def test_elf_sizes(read, size):
    elf = read()
    assert elf.startswith(b"\x7fELF")
    assert len(elf) == size
    assert elf_size(elf) == size


def test_elf_size_ignores_zero_padding():
    elf = memo_v3_elf()
    assert elf_size(elf + bytes(10_000)) == len(elf)


def test_elf_size_rejects_non_elf():
    with pytest.raises(ValueError, match="ELF header"):
        elf_size(bytes(100))


def test_unknown_program_raises():
    with pytest.raises(ProgramNotFoundError, match="not loaded"):
        builtin_program_elf(Pubkey.new_unique())


def test_write_program_so(tmp_path: Path):
    path = tmp_path / "target" / "deploy" / "slop_registry.so"
    written = write_program_so(memo_v3_elf(), path)
    assert written == path
    assert path.read_bytes() == memo_v3_elf()
    assert [p.name for p in path.parent.iterdir()] == ["slop_registry.so"]
