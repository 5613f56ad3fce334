"""Loader-v3 instruction encoding and account states.

Expected bytes and account lists follow agave's
sdk/program/src/loader_upgradeable_instruction.rs: bincode with a u32 tag.
"""

from __future__ import annotations

import struct

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.sysvar import CLOCK, RENT

from slopops.programs import loader

BUFFER = Keypair().pubkey()
AUTHORITY = Keypair().pubkey()
PAYER = Keypair().pubkey()
PROGRAM = Keypair().pubkey()


def metas(instruction) -> list[tuple[Pubkey, bool, bool]]:
    return [(m.pubkey, m.is_signer, m.is_writable) for m in instruction.accounts]


def test_initialize_buffer_encoding() -> None:
    instruction = loader.initialize_buffer(BUFFER, AUTHORITY)

    assert instruction.program_id == loader.LOADER_ID
    assert bytes(instruction.data) == bytes([0, 0, 0, 0])
    assert metas(instruction) == [(BUFFER, False, True), (AUTHORITY, False, False)]


def test_write_encoding() -> None:
    instruction = loader.write(BUFFER, AUTHORITY, 0x0102, b"abc")

    assert bytes(instruction.data) == (
        bytes([1, 0, 0, 0])
        + bytes([0x02, 0x01, 0, 0])
        + bytes([3, 0, 0, 0, 0, 0, 0, 0])
        + b"abc"
    )
    assert metas(instruction) == [(BUFFER, False, True), (AUTHORITY, True, False)]


def test_deploy_encoding() -> None:
    instruction = loader.deploy_with_max_data_len(
        PAYER, PROGRAM, BUFFER, AUTHORITY, 200_000
    )

    assert bytes(instruction.data) == struct.pack("<IQ", 2, 200_000)
    assert metas(instruction) == [
        (PAYER, True, True),
        (loader.programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (BUFFER, False, True),
        (RENT, False, False),
        (CLOCK, False, False),
        (SYSTEM_PROGRAM_ID, False, False),
        (AUTHORITY, True, False),
    ]


def test_upgrade_encoding() -> None:
    instruction = loader.upgrade(PROGRAM, BUFFER, AUTHORITY, PAYER)

    assert bytes(instruction.data) == bytes([3, 0, 0, 0])
    assert metas(instruction) == [
        (loader.programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (BUFFER, False, True),
        (PAYER, False, True),
        (RENT, False, False),
        (CLOCK, False, False),
        (AUTHORITY, True, False),
    ]


def test_set_authority_encoding() -> None:
    new = Keypair().pubkey()

    with_new = loader.set_authority(BUFFER, AUTHORITY, new)
    final = loader.set_authority(BUFFER, AUTHORITY, None)

    assert bytes(with_new.data) == bytes([4, 0, 0, 0])
    assert metas(with_new) == [
        (BUFFER, False, True),
        (AUTHORITY, True, False),
        (new, False, False),
    ]
    assert len(final.accounts) == 2


def test_close_encoding() -> None:
    buffer_close = loader.close(BUFFER, PAYER, AUTHORITY)
    program_close = loader.close(BUFFER, PAYER, AUTHORITY, PROGRAM)

    assert bytes(buffer_close.data) == bytes([5, 0, 0, 0])
    assert metas(buffer_close) == [
        (BUFFER, False, True),
        (PAYER, False, True),
        (AUTHORITY, True, False),
    ]
    assert metas(program_close)[3] == (PROGRAM, False, True)


def test_extend_encoding() -> None:
    instruction = loader.extend_program(PROGRAM, PAYER, 102_728)

    assert bytes(instruction.data) == struct.pack("<II", 6, 102_728)
    assert metas(instruction) == [
        (loader.programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (SYSTEM_PROGRAM_ID, False, False),
        (PAYER, True, True),
    ]


def test_programdata_address_is_pda() -> None:
    expected, _ = Pubkey.find_program_address([bytes(PROGRAM)], loader.LOADER_ID)

    assert loader.programdata_address(PROGRAM) == expected


def test_parse_buffer_state() -> None:
    data = struct.pack("<I", 1) + b"\x01" + bytes(AUTHORITY) + b"elf"

    state = loader.parse_state(data)

    assert state == loader.BufferState(AUTHORITY, b"elf")


def test_parse_programdata_state() -> None:
    data = struct.pack("<IQ", 3, 77) + b"\x00" + bytes(32) + b"elf\x00"

    state = loader.parse_state(data)

    assert state == loader.ProgramDataState(77, None, b"elf\x00")


def test_parse_program_state() -> None:
    programdata = loader.programdata_address(PROGRAM)

    state = loader.parse_state(struct.pack("<I", 2) + bytes(programdata))

    assert state == loader.ProgramState(programdata)


def test_parse_uninitialized_state() -> None:
    assert loader.parse_state(bytes(37)) is None


@pytest.mark.parametrize("data", [b"", struct.pack("<I", 9), struct.pack("<I", 3)])
def test_parse_invalid_state(data: bytes) -> None:
    with pytest.raises(ValueError, match="tag"):
        loader.parse_state(data)


def test_extend_checked_encoding() -> None:
    instruction = loader.extend_program_checked(PROGRAM, AUTHORITY, PAYER, 4_096)

    assert bytes(instruction.data) == struct.pack("<II", 8, 4_096)
    assert metas(instruction) == [
        (loader.programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (AUTHORITY, True, False),
        (SYSTEM_PROGRAM_ID, False, False),
        (PAYER, True, True),
    ]
