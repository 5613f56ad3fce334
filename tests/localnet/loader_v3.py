"""Instructions of the BPF upgradeable loader (loader v3), for the tests.

Each instruction's data is bincode: a u32 tag, then the fields. The account
lists follow agave's ``loader_upgradeable_instruction.rs``.
"""

from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import CreateAccountParams, create_account
from solders.sysvar import CLOCK, RENT

LOADER_V3_ID = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
BUFFER_HEADER_BYTES = 37
PROGRAMDATA_HEADER_BYTES = 45
PROGRAM_ACCOUNT_BYTES = 36
# The maximum ELF bytes of one Write in a transaction with one signer.
MAX_WRITE_BYTES = 1_012


def programdata_address(program_id: Pubkey) -> Pubkey:
    """Return the programdata account of ``program_id``."""
    return Pubkey.find_program_address([bytes(program_id)], LOADER_V3_ID)[0]


def _meta(pubkey: Pubkey, *, signer: bool = False, writable: bool = False):
    return AccountMeta(pubkey, is_signer=signer, is_writable=writable)


def create_buffer(
    payer: Pubkey, buffer: Pubkey, authority: Pubkey, elf_bytes: int, lamports: int
) -> list[Instruction]:
    """Return the instructions creating and initializing a buffer account."""
    create = create_account(
        CreateAccountParams(
            from_pubkey=payer,
            to_pubkey=buffer,
            lamports=lamports,
            space=BUFFER_HEADER_BYTES + elf_bytes,
            owner=LOADER_V3_ID,
        )
    )
    initialize = Instruction(
        LOADER_V3_ID,
        struct.pack("<I", 0),
        [_meta(buffer, writable=True), _meta(authority)],
    )
    return [create, initialize]


def write(buffer: Pubkey, authority: Pubkey, offset: int, chunk: bytes) -> Instruction:
    """Return a Write of ``chunk`` at ``offset`` of the buffer's ELF area."""
    data = struct.pack("<IIQ", 1, offset, len(chunk)) + chunk
    return Instruction(
        LOADER_V3_ID,
        data,
        [_meta(buffer, writable=True), _meta(authority, signer=True)],
    )


def deploy(
    payer: Pubkey,
    program_id: Pubkey,
    buffer: Pubkey,
    authority: Pubkey,
    program_lamports: int,
    max_data_len: int,
) -> list[Instruction]:
    """Return the instructions creating the program account and deploying."""
    create = create_account(
        CreateAccountParams(
            from_pubkey=payer,
            to_pubkey=program_id,
            lamports=program_lamports,
            space=PROGRAM_ACCOUNT_BYTES,
            owner=LOADER_V3_ID,
        )
    )
    deploy_instruction = Instruction(
        LOADER_V3_ID,
        struct.pack("<IQ", 2, max_data_len),
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
    return [create, deploy_instruction]


def upgrade(
    program_id: Pubkey, buffer: Pubkey, spill: Pubkey, authority: Pubkey
) -> Instruction:
    """Return an Upgrade of ``program_id`` to the ELF in ``buffer``."""
    return Instruction(
        LOADER_V3_ID,
        struct.pack("<I", 3),
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
    account: Pubkey, authority: Pubkey, new_authority: Pubkey
) -> Instruction:
    """Return a SetAuthority of a buffer or programdata account."""
    return Instruction(
        LOADER_V3_ID,
        struct.pack("<I", 4),
        [
            _meta(account, writable=True),
            _meta(authority, signer=True),
            _meta(new_authority),
        ],
    )


def close_buffer(buffer: Pubkey, recipient: Pubkey, authority: Pubkey) -> Instruction:
    """Return a Close of a buffer, sending its lamports to ``recipient``."""
    return Instruction(
        LOADER_V3_ID,
        struct.pack("<I", 5),
        [
            _meta(buffer, writable=True),
            _meta(recipient, writable=True),
            _meta(authority, signer=True),
        ],
    )


def extend_program(
    program_id: Pubkey, payer: Pubkey, additional_bytes: int
) -> Instruction:
    """Return an ExtendProgram growing programdata by ``additional_bytes``."""
    return Instruction(
        LOADER_V3_ID,
        struct.pack("<II", 6, additional_bytes),
        [
            _meta(programdata_address(program_id), writable=True),
            _meta(program_id, writable=True),
            _meta(SYSTEM_PROGRAM_ID),
            _meta(payer, signer=True, writable=True),
        ],
    )
