"""Check sBPF ELF files and recover an ELF's length from padded programdata."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from slopops.programs.loader import MAX_PROGRAM_BYTES

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
# e_machine of Solana programs: EM_BPF (247) for older toolchains, EM_SBPF (263).
SBPF_MACHINES = {247: "EM_BPF", 263: "EM_SBPF"}
ET_DYN = 3
_ELF64_HEADER_BYTES = 64


@dataclass(frozen=True)
class ElfInfo:
    """A checked program file: size, sha256 and ELF machine."""

    size_bytes: int
    sha256: str
    machine: str


class ElfProblem(ValueError):
    """The bytes are not a deployable sBPF ELF; the message names the problem."""


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_elf(data: bytes) -> ElfInfo:
    """Check that ``data`` is an sBPF ELF the loader accepts.

    Checks the magic, 64-bit little-endian class, machine, type, the size
    limit, and that the section header table ends the file (so that
    :func:`elf_length` can recover it from programdata).

    Raises:
        ElfProblem: The first problem found.
    """
    if len(data) < _ELF64_HEADER_BYTES:
        raise ElfProblem(f"is {len(data)} bytes, shorter than an ELF64 header")
    if data[:4] != ELF_MAGIC:
        raise ElfProblem(f"does not start with the ELF magic (found {data[:4]!r})")
    if data[4] != ELFCLASS64 or data[5] != ELFDATA2LSB:
        raise ElfProblem("is not a 64-bit little-endian ELF")
    (elf_type, machine) = struct.unpack_from("<HH", data, 0x10)
    if machine not in SBPF_MACHINES:
        raise ElfProblem(f"has e_machine {machine}, not sBPF (247 or 263)")
    if elf_type != ET_DYN:
        raise ElfProblem(f"has e_type {elf_type}, not a shared object (3)")
    if len(data) > MAX_PROGRAM_BYTES:
        raise ElfProblem(
            f"is {len(data)} bytes, over the loader's limit of {MAX_PROGRAM_BYTES}"
        )
    end = elf_length(data)
    if end != len(data):
        raise ElfProblem(
            f"has its section header table ending at byte {end}, not at the end "
            f"of the file ({len(data)} bytes): truncated or with trailing data"
        )
    return ElfInfo(len(data), sha256_hex(data), SBPF_MACHINES[machine])


def elf_length(data: bytes) -> int:
    """Return the ELF's length: the end of its section header table.

    Programdata is zero-padded and real ELFs end in zeros, so stripping zeros
    would cut them; ``e_shoff + e_shentsize * e_shnum`` does not.

    Raises:
        ElfProblem: ``data`` has no ELF64 header.
    """
    if len(data) < _ELF64_HEADER_BYTES or data[:4] != ELF_MAGIC:
        raise ElfProblem("has no ELF64 header")
    (section_header_offset,) = struct.unpack_from("<Q", data, 0x28)
    (entry_size, entry_count) = struct.unpack_from("<HH", data, 0x3A)
    return section_header_offset + entry_size * entry_count


def elf_from_programdata(program_bytes: bytes) -> bytes:
    """Return the ELF stored in programdata (the bytes after its 45-byte header).

    Raises:
        ElfProblem: The bytes contain no ELF, or the recovered length exceeds them.
    """
    length = elf_length(program_bytes)
    if length > len(program_bytes):
        raise ElfProblem(
            f"declares {length} bytes but programdata has only {len(program_bytes)}"
        )
    return program_bytes[:length]
