"""Extend programdata, deploy a new program or upgrade one, and verify it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from slopops.errors import SlopopsError
from slopops.programs import loader
from slopops.programs.buffer import close_buffer
from slopops.programs.elf import ElfProblem, elf_from_programdata, sha256_hex
from slopops.programs.errors import DeployRejectedError, VerificationError
from slopops.programs.target import Session
from slopops.solana import (
    PendingTransaction,
    PreflightFailedError,
    TransactionFailedError,
    with_compute_unit_price,
)
from slopops.solana.rpc import RpcClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployOutcome:
    """Signatures and slots of the transactions that changed the program."""

    signatures: dict[str, str]
    slot: int


@dataclass(frozen=True)
class VerifiedProgram:
    """The program's on-chain ELF after a verified change."""

    program_id: str
    sha256: str
    size_bytes: int
    slot: int


async def wait_for_slot_after(
    rpc: RpcClient, slot: int, *, timeout_seconds: float = 30.0
) -> None:
    """Wait until the cluster's slot passes ``slot``.

    The loader allows one deploy, extend or upgrade of a program per slot.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while await rpc.slot() <= slot:
        if loop.time() > deadline:
            logger.warning("slot did not pass %d within %.0f s", slot, timeout_seconds)
            return
        await asyncio.sleep(0.2)


async def _send(session: Session, pending: PendingTransaction) -> tuple[str, int]:
    await session.sender.send_one(pending, skip_preflight=False)
    return str(pending.signature), int(pending.slot or 0)


def _pending(
    session: Session,
    label: str,
    instructions: list[Instruction],
    signers: list[Keypair],
) -> PendingTransaction:
    price = session.target.program.compute_unit_price_micro_lamports
    return PendingTransaction(
        label, with_compute_unit_price(instructions, price), signers
    )


async def extend_programdata(
    session: Session, additional_bytes: int
) -> tuple[str, int]:
    """Grow the program's programdata by ``additional_bytes``; the payer pays rent.

    A cluster that has switched to ExtendProgramChecked rejects ExtendProgram
    as invalid instruction data; the checked form, signed by the upgrade
    authority, is sent then.
    """
    instruction = loader.extend_program(
        session.program_id, session.payer.pubkey(), additional_bytes
    )
    try:
        signature, slot = await _send(
            session, _pending(session, "extend", [instruction], [session.payer])
        )
    except PreflightFailedError as exc:
        if "InvalidInstructionData" not in str(exc.err):
            raise
        # NOTE: this path has run in no test: the local chain (LiteSVM in
        # solders 0.29) accepts ExtendProgram.
        logger.info("ExtendProgram rejected; sending ExtendProgramChecked")
        checked = loader.extend_program_checked(
            session.program_id,
            session.authority.pubkey(),
            session.payer.pubkey(),
            additional_bytes,
        )
        signers = [session.payer, session.authority]
        signature, slot = await _send(
            session, _pending(session, "extend", [checked], signers)
        )
    logger.info(
        "extended programdata of %s by %d bytes in %s",
        session.program_id,
        additional_bytes,
        signature,
    )
    await wait_for_slot_after(session.rpc, slot)
    return signature, slot


async def apply_buffer(
    session: Session, buffer: Pubkey, size_bytes: int, *, first_deploy: bool
) -> DeployOutcome:
    """Deploy or upgrade the program from ``buffer``.

    A rejected transaction closes the buffer (its lamports go to the payer)
    before :class:`DeployRejectedError` is raised.
    """
    label = "deploy" if first_deploy else "upgrade"
    pending = (
        await _deploy_transaction(session, buffer, size_bytes)
        if first_deploy
        else _upgrade_transaction(session, buffer)
    )
    try:
        signature, slot = await _send(session, pending)
    except (PreflightFailedError, TransactionFailedError) as exc:
        raise await _rejection(session, buffer, exc) from exc
    logger.info(
        "%s of %s landed in slot %d: %s", label, session.program_id, slot, signature
    )
    return DeployOutcome({label: signature}, slot)


async def _deploy_transaction(
    session: Session, buffer: Pubkey, size_bytes: int
) -> PendingTransaction:
    program_keypair = session.target.program_keypair()
    assert program_keypair is not None, "preflight checks the program keypair"
    max_len = max(size_bytes, session.target.program.max_data_len_bytes or 0)
    rent = await session.rpc.minimum_balance_for_rent_exemption(loader.PROGRAM_BYTES)
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=session.payer.pubkey(),
                to_pubkey=session.program_id,
                lamports=rent,
                space=loader.PROGRAM_BYTES,
                owner=loader.LOADER_ID,
            )
        ),
        loader.deploy_with_max_data_len(
            session.payer.pubkey(),
            session.program_id,
            buffer,
            session.authority.pubkey(),
            max_len,
        ),
    ]
    signers = [session.payer, program_keypair, session.authority]
    return _pending(session, "deploy", instructions, signers)


def _upgrade_transaction(session: Session, buffer: Pubkey) -> PendingTransaction:
    instruction = loader.upgrade(
        session.program_id, buffer, session.authority.pubkey(), session.payer.pubkey()
    )
    return _pending(
        session, "upgrade", [instruction], [session.payer, session.authority]
    )


async def _rejection(
    session: Session, buffer: Pubkey, exc: Exception
) -> DeployRejectedError:
    """Close the rejected release's buffer and build the error to raise."""
    if isinstance(exc, PreflightFailedError):
        logs, reason = exc.logs, f"{exc.rpc_message} ({exc.err!r})"
    else:
        assert isinstance(exc, TransactionFailedError)
        logs, reason = [], f"transaction failed with {exc.err!r}"
    logger.error("loader rejected %s: %s", session.program_id, reason)
    recovered = 0
    try:
        _, recovered = await close_buffer(session, buffer)
    except SlopopsError as close_exc:
        # The rejection is the error to report; the buffer stays listed.
        logger.error("closing rejected buffer %s failed: %s", buffer, close_exc)
    return DeployRejectedError(
        session.target.name,
        str(session.program_id),
        reason,
        logs,
        str(buffer),
        recovered,
    )


async def verify_program(
    rpc: RpcClient, program: str, program_id: Pubkey, expected_sha256: str
) -> VerifiedProgram:
    """Read programdata, recover the ELF by its header and compare its sha256.

    Raises:
        VerificationError: The hash differs or programdata contains no ELF.
    """
    address = loader.programdata_address(program_id)
    account = await rpc.account_info(address)
    state = loader.parse_state(account.data) if account else None
    if not isinstance(state, loader.ProgramDataState):
        raise VerificationError(program, str(program_id), expected_sha256, "none")
    try:
        elf = elf_from_programdata(state.data)
    except ElfProblem as exc:
        raise VerificationError(
            program, str(program_id), expected_sha256, f"no ELF ({exc})"
        ) from exc
    actual = sha256_hex(elf)
    if actual != expected_sha256:
        raise VerificationError(program, str(program_id), expected_sha256, actual)
    logger.info("verified %s at slot %d: sha256 %s", program_id, state.slot, actual)
    return VerifiedProgram(str(program_id), actual, len(elf), state.slot)
