"""Solana program releases over loader v3, through JSON-RPC only.

The engine runs the same against the local chain, devnet and mainnet-beta:
preflight checks, a resumable buffer write, extend, deploy or upgrade,
sha256 verification, rollback buffers, inventory, buffer clean-up and a
failure-rate probe. Design of the release records: docs/release-records.md.
"""

from slopops.programs.buffer import BufferWrite, write_buffer
from slopops.programs.deploy import DeployOutcome, VerifiedProgram, verify_program
from slopops.programs.inventory import (
    BufferInfo,
    CloseReport,
    ProgramInventory,
    close_buffers,
    program_inventory,
)
from slopops.programs.preflight import PreflightReport
from slopops.programs.probe import FailureRate, failure_rate
from slopops.programs.release import (
    ReleaseOutcome,
    apply_release,
    check_release_inputs,
    elf_path_of,
    release_program,
    run_preflight,
    save_current_elf,
    verify_release,
    write_release_buffer,
)
from slopops.programs.rollback import RollbackOutcome, rollback_program
from slopops.programs.store import (
    FileReleaseStore,
    ReleaseRecord,
    ReleaseStore,
    SavedElf,
    rollback_target,
)
from slopops.programs.target import ProgramTarget, open_session

__all__ = [
    "BufferInfo",
    "BufferWrite",
    "CloseReport",
    "DeployOutcome",
    "FailureRate",
    "FileReleaseStore",
    "PreflightReport",
    "ProgramInventory",
    "ProgramTarget",
    "ReleaseOutcome",
    "ReleaseRecord",
    "ReleaseStore",
    "RollbackOutcome",
    "SavedElf",
    "VerifiedProgram",
    "apply_release",
    "check_release_inputs",
    "close_buffers",
    "elf_path_of",
    "failure_rate",
    "open_session",
    "program_inventory",
    "release_program",
    "rollback_program",
    "rollback_target",
    "run_preflight",
    "save_current_elf",
    "verify_program",
    "verify_release",
    "write_buffer",
    "write_release_buffer",
]
