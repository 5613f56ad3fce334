"""Loader v3 (BPF upgradeable loader): instructions and account states.

Instruction data is bincode: a u32 little-endian tag, then the fields. The
layouts and account lists follow agave's
``sdk/program/src/loader_upgradeable_instruction.rs``; account states follow
``UpgradeableLoaderState`` (buffer header 37 bytes, program 36, programdata 45).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.sysvar import CLOCK, RENT

LOADER_ID = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")

BUFFER_HEADER_BYTES = 37
PROGRAM_BYTES = 36
PROGRAMDATA_HEADER_BYTES = 45
# An account's data may not exceed 10 MiB (MAX_PERMITTED_DATA_LENGTH).
MAX_ACCOUNT_DATA_BYTES = 10 * 1024 * 1024
MAX_PROGRAM_BYTES = MAX_ACCOUNT_DATA_BYTES - PROGRAMDATA_HEADER_BYTES

INITIALIZE_BUFFER = 0
WRITE = 1
DEPLOY_WITH_MAX_DATA_LEN = 2
UPGRADE = 3
SET_AUTHORITY = 4
CLOSE = 5
EXTEND_PROGRAM = 6
SET_AUTHORITY_CHECKED = 7
# SIMD-0164: a feature gate enables this one and then disables ExtendProgram.
EXTEND_PROGRAM_CHECKED = 8

STATE_UNINITIALIZED = 0
STATE_BUFFER = 1
STATE_PROGRAM = 2
STATE_PROGRAMDATA = 3

# Byte offset of the authority pubkey inside a buffer (after tag and Some byte).
BUFFER_AUTHORITY_OFFSET = 5


def _meta(pubkey: Pubkey, *, signer: bool = False, writable: bool = False):
    return AccountMeta(pubkey, is_signer=signer, is_writable=writable)


def programdata_address(program_id: Pubkey) -> Pubkey:
    """Return the programdata address: the PDA of ``[program_id]``."""
    return Pubkey.find_program_address([bytes(program_id)], LOADER_ID)[0]


def initialize_buffer(buffer: Pubkey, authority: Pubkey) -> Instruction:
    """Initialize ``buffer``; it must be created in the same transaction."""
    return Instruction(
        LOADER_ID,
        struct.pack("<I", INITIALIZE_BUFFER),
        [_meta(buffer, writable=True), _meta(authority)],
    )


def write(buffer: Pubkey, authority: Pubkey, offset: int, data: bytes) -> Instruction:
    """Write ``data`` at ``offset`` of the program bytes (after the header)."""
    payload = struct.pack("<IIQ", WRITE, offset, len(data)) + data
    return Instruction(
        LOADER_ID,
        payload,
        [_meta(buffer, writable=True), _meta(authority, signer=True)],
    )


def deploy_with_max_data_len(
    payer: Pubkey,
    program_id: Pubkey,
    buffer: Pubkey,
    authority: Pubkey,
    max_data_len: int,
) -> Instruction:
    """Deploy a program from ``buffer``; create the program account first."""
    return Instruction(
        LOADER_ID,
        struct.pack("<IQ", DEPLOY_WITH_MAX_DATA_LEN, max_data_len),
        [
            _meta(payer, signer=True, writable=True),
            _meta(programdata_address(program_id), writable=True),
            _meta(program_id, writable=True),
            _meta(buffer, writable=True),
            _meta(RENT),
            _meta(CLOCK),
            _meta(SYSTEM_PROGRAM_ID),
            _meta(authority, signer=True),
        ],
    )


def upgrade(
    program_id: Pubkey, buffer: Pubkey, authority: Pubkey, spill: Pubkey
) -> Instruction:
    """Replace the program with ``buffer``'s bytes; the buffer's rest goes to spill."""
    return Instruction(
        LOADER_ID,
        struct.pack("<I", UPGRADE),
        [
            _meta(programdata_address(program_id), writable=True),
            _meta(program_id, writable=True),
            _meta(buffer, writable=True),
            _meta(spill, writable=True),
            _meta(RENT),
            _meta(CLOCK),
            _meta(authority, signer=True),
        ],
    )


def set_authority(
    account: Pubkey, authority: Pubkey, new_authority: Pubkey | None
) -> Instruction:
    """Change a buffer's or programdata's authority; None makes it final."""
    accounts = [_meta(account, writable=True), _meta(authority, signer=True)]
    if new_authority is not None:
        accounts.append(_meta(new_authority))
    return Instruction(LOADER_ID, struct.pack("<I", SET_AUTHORITY), accounts)


def close(
    account: Pubkey,
    recipient: Pubkey,
    authority: Pubkey,
    program_id: Pubkey | None = None,
) -> Instruction:
    """Close a buffer (or, with ``program_id``, a programdata) account."""
    accounts = [
        _meta(account, writable=True),
        _meta(recipient, writable=True),
        _meta(authority, signer=True),
    ]
    if program_id is not None:
        accounts.append(_meta(program_id, writable=True))
    return Instruction(LOADER_ID, struct.pack("<I", CLOSE), accounts)


def extend_program(
    program_id: Pubkey, payer: Pubkey, additional_bytes: int
) -> Instruction:
    """Grow the programdata account by ``additional_bytes``; ``payer`` pays rent."""
    return Instruction(
        LOADER_ID,
        struct.pack("<II", EXTEND_PROGRAM, additional_bytes),
        [
            _meta(programdata_address(program_id), writable=True),
            _meta(program_id, writable=True),
            _meta(SYSTEM_PROGRAM_ID),
            _meta(payer, signer=True, writable=True),
        ],
    )


def extend_program_checked(
    program_id: Pubkey, authority: Pubkey, payer: Pubkey, additional_bytes: int
) -> Instruction:
    """Grow programdata like :func:`extend_program`, signed by the authority."""
    return Instruction(
        LOADER_ID,
        struct.pack("<II", EXTEND_PROGRAM_CHECKED, additional_bytes),
        [
            _meta(programdata_address(program_id), writable=True),
            _meta(program_id, writable=True),
            _meta(authority, signer=True),
            _meta(SYSTEM_PROGRAM_ID),
            _meta(payer, signer=True, writable=True),
        ],
    )


@dataclass(frozen=True)
class BufferState:
    """A buffer account: its authority (None when immutable) and program bytes."""

    authority: Pubkey | None
    data: bytes


@dataclass(frozen=True)
class ProgramState:
    """A program account: the address of its programdata."""

    programdata: Pubkey


@dataclass(frozen=True)
class ProgramDataState:
    """A programdata account: last deploy slot, authority and padded bytes."""

    slot: int
    authority: Pubkey | None
    data: bytes


def _option_pubkey(data: bytes, offset: int) -> Pubkey | None:
    if data[offset] == 0:
        return None
    return Pubkey.from_bytes(data[offset + 1 : offset + 33])


def parse_state(data: bytes) -> BufferState | ProgramState | ProgramDataState | None:
    """Decode a loader-v3 account; None when uninitialized.

    Raises:
        ValueError: The data is too short or has an unknown tag.
    """
    if len(data) < 4:
        raise ValueError(f"loader account data of {len(data)} bytes has no tag")
    (tag,) = struct.unpack_from("<I", data)
    if tag == STATE_UNINITIALIZED:
        return None
    if tag == STATE_BUFFER and len(data) >= BUFFER_HEADER_BYTES:
        return BufferState(_option_pubkey(data, 4), data[BUFFER_HEADER_BYTES:])
    if tag == STATE_PROGRAM and len(data) >= PROGRAM_BYTES:
        return ProgramState(Pubkey.from_bytes(data[4:36]))
    if tag == STATE_PROGRAMDATA and len(data) >= PROGRAMDATA_HEADER_BYTES:
        (slot,) = struct.unpack_from("<Q", data, 4)
        return ProgramDataState(
            slot, _option_pubkey(data, 12), data[PROGRAMDATA_HEADER_BYTES:]
        )
    raise ValueError(f"unknown loader-v3 state tag {tag} in {len(data)} bytes")
