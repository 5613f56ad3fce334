"""Real program ELFs, read from the programs LiteSVM ships with.

Tests and the demo need real sBPF binaries to deploy, and none is committed.
LiteSVM (solders 0.29) loads SPL programs through the loader-v2
(non-upgradeable) loader, whose account data is the ELF file itself.

- SPL Memo v3 (2,304 bytes) deploys and runs through loader v3.
- SPL Memo v1 (17,280 bytes) is rejected at deploy ("Unresolved symbol
  sol_alloc_free_"): a release that fails to upgrade.
- The associated-token program (105,032 bytes) deploys and runs, but a memo
  instruction sent to it fails with InvalidInstructionData: a release that
  upgrades but then fails its transactions.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path

from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

from slopops.localnet.errors import ProgramNotFoundError

MEMO_V3_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
MEMO_V1_PROGRAM_ID = Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string(
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
)

ELF_MAGIC = b"\x7fELF"


@functools.cache
def builtin_program_elf(program_id: Pubkey) -> bytes:
    """Return the ELF of a program that LiteSVM loads by default.

    Raises:
        ProgramNotFoundError: LiteSVM has no such program, or its account
            data is not an ELF file.
    """
    account = LiteSVM().get_account(program_id)
    if account is None or not bytes(account.data).startswith(ELF_MAGIC):
        raise ProgramNotFoundError(str(program_id))
    return bytes(account.data)


def memo_v3_elf() -> bytes:
    """Return the SPL Memo v3 ELF, a program that deploys and runs."""
    return builtin_program_elf(MEMO_V3_PROGRAM_ID)


def memo_v1_elf() -> bytes:
    """Return the SPL Memo v1 ELF, which loader v3 rejects at deploy."""
    return builtin_program_elf(MEMO_V1_PROGRAM_ID)


def associated_token_elf() -> bytes:
    """Return the associated-token program ELF, a 105,032-byte program."""
    return builtin_program_elf(ASSOCIATED_TOKEN_PROGRAM_ID)


def write_program_so(elf: bytes, path: Path) -> Path:
    """Write ``elf`` to ``path`` (such as ``target/deploy/<name>.so``) atomically.

    Returns:
        ``path``, so a caller can write and use it in one expression.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(elf)
    os.replace(partial, path)
    return path


def elf_size(data: bytes) -> int:
    """Return the length of the ELF file at the start of ``data``.

    Programdata accounts are zero-padded to their maximum length, and real
    ELFs may end in zero bytes, so stripping zeros is wrong. The length comes
    from the header instead, because the section header table is the last
    part of a 64-bit little-endian ELF as sBPF linkers write it.

    Raises:
        ValueError: ``data`` does not start with a 64-bit little-endian ELF header.
    """
    if len(data) < 64 or not data.startswith(ELF_MAGIC) or data[4:6] != b"\x02\x01":
        raise ValueError("data does not start with a 64-bit little-endian ELF header")
    (section_header_offset,) = struct.unpack_from("<Q", data, 0x28)
    section_header_size, section_header_count = struct.unpack_from("<HH", data, 0x3A)
    return section_header_offset + section_header_size * section_header_count
