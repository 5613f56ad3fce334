"""ELF checks and ELF length recovery from zero-padded programdata."""

from __future__ import annotations

import pytest

from slopops.localnet.builtin_programs import (
    associated_token_elf,
    memo_v1_elf,
    memo_v3_elf,
)
from slopops.programs.elf import (
    ElfProblem,
    check_elf,
    elf_from_programdata,
    elf_length,
    sha256_hex,
)
from slopops.programs.loader import MAX_PROGRAM_BYTES


@pytest.mark.parametrize(
    ("elf", "machine"),
    [
        (memo_v3_elf(), "EM_SBPF"),
        (memo_v1_elf(), "EM_BPF"),
        (associated_token_elf(), "EM_BPF"),
    ],
    ids=["memo-v3", "memo-v1", "associated-token"],
)
def test_real_elfs_pass(elf: bytes, machine: str) -> None:
    info = check_elf(elf)

    assert info.size_bytes == len(elf)
    assert info.sha256 == sha256_hex(elf)
    assert info.machine == machine


def test_recovery_ignores_zero_padding() -> None:
    elf = associated_token_elf()
    padded = elf + bytes(4_096)

    assert elf_length(padded) == len(elf)
    assert elf_from_programdata(padded) == elf


def test_recovery_keeps_trailing_zeros() -> None:
    elf = memo_v3_elf()

    # The file itself ends in zero bytes: stripping zeros would cut it.
    assert elf.endswith(b"\x00")
    assert elf_from_programdata(elf + bytes(100)) == elf


def test_recovery_rejects_short_programdata() -> None:
    with pytest.raises(ElfProblem, match="declares"):
        elf_from_programdata(associated_token_elf()[:60_000])


def test_recovery_rejects_non_elf() -> None:
    with pytest.raises(ElfProblem, match="no ELF64 header"):
        elf_from_programdata(bytes(1_000))


def test_wrong_class_rejected() -> None:
    elf = bytearray(memo_v3_elf())
    elf[4] = 1

    with pytest.raises(ElfProblem, match="64-bit little-endian"):
        check_elf(bytes(elf))


def test_executable_type_rejected() -> None:
    elf = bytearray(memo_v3_elf())
    elf[0x10] = 2

    with pytest.raises(ElfProblem, match="e_type 2"):
        check_elf(bytes(elf))


def test_oversized_file_rejected() -> None:
    elf = memo_v3_elf() + bytes(MAX_PROGRAM_BYTES)

    with pytest.raises(ElfProblem, match="over the loader's limit"):
        check_elf(elf)
