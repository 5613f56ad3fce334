"""Checks before anything is signed, and the release's cost estimate."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from solders.pubkey import Pubkey

from slopops.programs import loader
from slopops.programs.elf import ElfProblem, check_elf, elf_from_programdata, sha256_hex
from slopops.programs.errors import (
    GenesisHashMismatchError,
    InsufficientFundsError,
    InvalidElfError,
    ProgramFinalError,
    ProgramNotFoundError,
    UpgradeAuthorityMismatchError,
)
from slopops.programs.target import Session
from slopops.solana.rpc import RpcClient

logger = logging.getLogger(__name__)

# NOTE: the fee per signature is the cluster default (5,000 lamports); the
# estimate does not ask the node with getFeeForMessage.
LAMPORTS_PER_SIGNATURE = 5_000
# Compute units a transaction is charged a priority fee for when it sets no
# limit: 200,000 per instruction (agave's default instruction limit).
_DEFAULT_COMPUTE_UNITS = 200_000


@dataclass(frozen=True)
class DeployedProgram:
    """A loader-v3 program as found on chain."""

    program_id: str
    programdata: str
    authority: str | None
    slot: int
    capacity_bytes: int
    programdata_lamports: int
    elf: bytes
    sha256: str


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of the checks: what the release will do and what it costs."""

    program: str
    program_id: str
    genesis_hash: str
    sha256: str
    size_bytes: int
    first_deploy: bool
    current_sha256: str | None
    current_slot: int | None
    extend_bytes: int
    estimated_lamports: int
    payer: str
    payer_balance_lamports: int


def read_elf(program: str, path: Path) -> bytes:
    """Read and check the program file at ``path``.

    Raises:
        InvalidElfError: The file is missing or is not a deployable sBPF ELF.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidElfError(program, str(path), f"cannot be read ({exc})") from exc
    try:
        check_elf(data)
    except ElfProblem as exc:
        raise InvalidElfError(program, str(path), str(exc)) from exc
    return data


async def check_genesis(rpc: RpcClient, program: str, expected: str) -> str:
    """Raise :class:`GenesisHashMismatchError` unless the cluster is ``expected``."""
    actual = await rpc.genesis_hash()
    if actual != expected:
        raise GenesisHashMismatchError(program, expected, actual)
    return actual


async def read_program(
    rpc: RpcClient, program: str, program_id: Pubkey
) -> DeployedProgram | None:
    """Read a loader-v3 program and its ELF; None when the address is empty.

    Raises:
        ProgramNotFoundError: The account at the address is not a program.
    """
    account = await rpc.account_info(program_id)
    if account is None:
        return None
    if account.owner != loader.LOADER_ID:
        raise ProgramNotFoundError(
            program,
            str(program_id),
            f"is owned by {account.owner}, not the upgradeable loader; "
            "check the program id",
        )
    state = loader.parse_state(account.data)
    if not isinstance(state, loader.ProgramState):
        raise ProgramNotFoundError(
            program, str(program_id), "is a loader account but not a program"
        )
    programdata = await rpc.account_info(state.programdata)
    data_state = loader.parse_state(programdata.data) if programdata else None
    if programdata is None or not isinstance(data_state, loader.ProgramDataState):
        raise ProgramNotFoundError(
            program, str(program_id), f"has no programdata at {state.programdata}"
        )
    elf = elf_from_programdata(data_state.data)
    return DeployedProgram(
        program_id=str(program_id),
        programdata=str(state.programdata),
        authority=str(data_state.authority) if data_state.authority else None,
        slot=data_state.slot,
        capacity_bytes=len(data_state.data),
        programdata_lamports=programdata.lamports,
        elf=elf,
        sha256=sha256_hex(elf),
    )


def check_authority(program: str, deployed: DeployedProgram, expected: Pubkey) -> None:
    """Raise unless ``deployed`` is upgradeable by ``expected``."""
    if deployed.authority is None:
        raise ProgramFinalError(program, deployed.program_id)
    if deployed.authority != str(expected):
        raise UpgradeAuthorityMismatchError(
            program, deployed.program_id, str(expected), deployed.authority
        )


def extension_bytes(capacity_bytes: int, size_bytes: int, minimum_bytes: int) -> int:
    """Return how far programdata must grow to hold ``size_bytes`` (0 if not).

    A growth below ``minimum_bytes`` (a cluster's minimum extension, when it
    has one) is rounded up to it.
    """
    needed = size_bytes - capacity_bytes
    if needed <= 0:
        return 0
    return max(needed, minimum_bytes)


async def preflight(
    session: Session,
    elf: bytes,
    *,
    rollback_bytes: int | None = None,
    buffer_funded: bool = False,
    min_extend_bytes: int = 0,
) -> PreflightReport:
    """Run every check before signing and estimate the release's cost.

    Args:
        session: The open session of the target.
        elf: The checked program file.
        rollback_bytes: Size of the rollback buffer to stage, if any.
        buffer_funded: The release buffer exists already (a resumed write).
        min_extend_bytes: The cluster's minimum programdata extension.

    Raises:
        GenesisHashMismatchError, UpgradeAuthorityMismatchError,
        ProgramFinalError, ProgramNotFoundError, InsufficientFundsError.
    """
    name = session.target.name
    genesis = await check_genesis(session.rpc, name, session.target.rpc.genesis_hash)
    deployed = await read_program(session.rpc, name, session.program_id)
    if deployed is None and session.target.program_keypair() is None:
        raise ProgramNotFoundError(
            name,
            str(session.program_id),
            "does not exist and no program_keypair is configured for a first "
            "deploy; set programs.program_keypair",
        )
    if deployed is not None:
        check_authority(name, deployed, session.authority.pubkey())
    extend = 0
    if deployed is not None:
        extend = extension_bytes(deployed.capacity_bytes, len(elf), min_extend_bytes)
    estimate = await estimate_lamports(
        session,
        len(elf),
        deployed,
        extend,
        rollback_bytes=rollback_bytes if deployed is not None else None,
        buffer_funded=buffer_funded,
    )
    balance = await session.rpc.balance(session.payer.pubkey())
    logger.info(
        "preflight of %s (%s): %d bytes, estimate %d lamports, payer balance %d",
        name,
        session.program_id,
        len(elf),
        estimate,
        balance,
    )
    if balance < estimate:
        raise InsufficientFundsError(
            name, str(session.payer.pubkey()), balance, estimate
        )
    return PreflightReport(
        program=name,
        program_id=str(session.program_id),
        genesis_hash=genesis,
        sha256=sha256_hex(elf),
        size_bytes=len(elf),
        first_deploy=deployed is None,
        current_sha256=deployed.sha256 if deployed else None,
        current_slot=deployed.slot if deployed else None,
        extend_bytes=extend,
        estimated_lamports=estimate,
        payer=str(session.payer.pubkey()),
        payer_balance_lamports=balance,
    )


async def estimate_lamports(
    session: Session,
    size_bytes: int,
    deployed: DeployedProgram | None,
    extend_bytes: int,
    *,
    rollback_bytes: int | None,
    buffer_funded: bool,
) -> int:
    """Estimate the lamports the payer must hold: rent plus fees.

    The buffer rent comes back after the deploy or upgrade, but the payer must
    hold it while the buffer is written.
    """
    rpc = session.rpc
    rent = 0
    if not buffer_funded:
        rent += await rpc.minimum_balance_for_rent_exemption(
            loader.BUFFER_HEADER_BYTES + size_bytes
        )
    if rollback_bytes is not None:
        rent += await rpc.minimum_balance_for_rent_exemption(
            loader.BUFFER_HEADER_BYTES + rollback_bytes
        )
    if deployed is None:
        max_len = max(size_bytes, session.target.program.max_data_len_bytes or 0)
        rent += await rpc.minimum_balance_for_rent_exemption(loader.PROGRAM_BYTES)
        rent += await rpc.minimum_balance_for_rent_exemption(
            loader.PROGRAMDATA_HEADER_BYTES + max_len
        )
    elif extend_bytes:
        new_size = loader.PROGRAMDATA_HEADER_BYTES + deployed.capacity_bytes
        new_rent = await rpc.minimum_balance_for_rent_exemption(new_size + extend_bytes)
        rent += max(0, new_rent - deployed.programdata_lamports)
    transactions = math.ceil(size_bytes / 1_000) + 3
    if rollback_bytes is not None:
        transactions += math.ceil(rollback_bytes / 1_000) + 1
    return rent + _fees(session, transactions)


def _fees(session: Session, transactions: int) -> int:
    signatures = 1 if session.payer.pubkey() == session.authority.pubkey() else 2
    price = session.target.program.compute_unit_price_micro_lamports
    priority = math.ceil(price * _DEFAULT_COMPUTE_UNITS / 1_000_000)
    # Creating a buffer and deploying need one more signature each.
    return transactions * (signatures * LAMPORTS_PER_SIGNATURE + priority) + (
        2 * LAMPORTS_PER_SIGNATURE
    )
