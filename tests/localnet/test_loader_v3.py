"""Programs deployed, upgraded and closed through loader v3 on the local chain.

The ELFs are the real SPL programs that LiteSVM ships with.
"""

from __future__ import annotations

import asyncio

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction_status import (
    InstructionErrorFieldless,
    TransactionErrorInstructionError,
)

from slopops.localnet.builtin_programs import (
    associated_token_elf,
    memo_v1_elf,
    memo_v3_elf,
)
from tests.localnet import loader_v3
from tests.localnet.chain import send, sign


async def write_buffer(client: AsyncClient, payer: Keypair, elf: bytes) -> Keypair:
    """Create a buffer holding ``elf``, sending its writes concurrently."""
    buffer = Keypair()
    space = loader_v3.BUFFER_HEADER_BYTES + len(elf)
    rent = (await client.get_minimum_balance_for_rent_exemption(space)).value
    await send(
        client,
        [payer, buffer],
        loader_v3.create_buffer(
            payer.pubkey(), buffer.pubkey(), payer.pubkey(), len(elf), rent
        ),
    )
    step = loader_v3.MAX_WRITE_BYTES
    writes = [
        send(
            client,
            [payer],
            [
                loader_v3.write(
                    buffer.pubkey(), payer.pubkey(), offset, elf[offset : offset + step]
                )
            ],
        )
        for offset in range(0, len(elf), step)
    ]
    await asyncio.gather(*writes)
    return buffer


async def deploy(
    client: AsyncClient, payer: Keypair, elf: bytes, max_data_len: int
) -> Keypair:
    """Deploy ``elf`` as a new upgradeable program with ``payer`` as authority."""
    buffer = await write_buffer(client, payer, elf)
    program = Keypair()
    space = loader_v3.PROGRAM_ACCOUNT_BYTES
    rent = (await client.get_minimum_balance_for_rent_exemption(space)).value
    instructions = loader_v3.deploy(
        payer.pubkey(),
        program.pubkey(),
        buffer.pubkey(),
        payer.pubkey(),
        rent,
        max_data_len,
    )
    await send(client, [payer, program], instructions)
    return program


async def upgrade(
    client: AsyncClient, payer: Keypair, program: Pubkey, elf: bytes
) -> None:
    buffer = await write_buffer(client, payer, elf)
    instruction = loader_v3.upgrade(
        program, buffer.pubkey(), payer.pubkey(), payer.pubkey()
    )
    await send(client, [payer], [instruction])


def memo_to(program: Pubkey, text: str) -> Instruction:
    return Instruction(program, text.encode(), [])


async def test_deploy_memo_v3_then_invoke(localnet, funded_payer):
    elf = memo_v3_elf()
    async with AsyncClient(localnet.url) as client:
        program = await deploy(client, funded_payer, elf, 2 * len(elf))
        programdata = loader_v3.programdata_address(program.pubkey())
        account = (await client.get_account_info(programdata)).value
        signature = await send(
            client, [funded_payer], [memo_to(program.pubkey(), "deployed")]
        )
        transaction = (await client.get_transaction(signature)).value
    stored = account.data[loader_v3.PROGRAMDATA_HEADER_BYTES :]
    assert stored[: len(elf)] == elf
    assert len(stored) == 2 * len(elf)
    meta = transaction.transaction.meta
    assert meta.err is None
    assert f"Program {program.pubkey()} success" in meta.log_messages


async def test_deploy_reports_inner_instructions(localnet, funded_payer):
    elf = memo_v3_elf()
    payer = funded_payer.pubkey()
    async with AsyncClient(localnet.url) as client:
        buffer = await write_buffer(client, funded_payer, elf)
        program = Keypair()
        space = loader_v3.PROGRAM_ACCOUNT_BYTES
        rent = (await client.get_minimum_balance_for_rent_exemption(space)).value
        instructions = loader_v3.deploy(
            payer, program.pubkey(), buffer.pubkey(), payer, rent, len(elf)
        )
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        transaction = sign([funded_payer, program], instructions, blockhash)
        simulated = (
            await client.simulate_transaction(transaction, inner_instructions=True)
        ).value
        signature = (await client.send_transaction(transaction)).value
        landed = (await client.get_transaction(signature)).value
    # The deploy (instruction 1) creates programdata through the system program.
    assert [group.index for group in simulated.inner_instructions] == [1]
    inner = landed.transaction.meta.inner_instructions
    assert [group.index for group in inner] == [1]
    assert inner[0].instructions[0].stack_height == 2


async def test_memo_v1_rejected_at_deploy(localnet, funded_payer):
    elf = memo_v1_elf()
    async with AsyncClient(localnet.url) as client:
        with pytest.raises(RPCException) as raised:
            await deploy(client, funded_payer, elf, len(elf))
    failure = raised.value.args[0]
    assert isinstance(failure.data.err, TransactionErrorInstructionError)
    assert failure.data.err.index == 1
    assert any("sol_alloc_free_" in line for line in failure.data.logs)


async def test_upgrade_extend_and_set_authority(localnet, funded_payer):
    memo_elf, ata_elf = memo_v3_elf(), associated_token_elf()
    new_authority = Keypair()
    async with AsyncClient(localnet.url) as client:
        program = await deploy(client, funded_payer, memo_elf, len(memo_elf))
        program_id = program.pubkey()
        # The upgrade lands in the slot after the deploy.
        await upgrade(client, funded_payer, program_id, memo_elf)
        await send(client, [funded_payer], [memo_to(program_id, "after upgrade")])
        extend = loader_v3.extend_program(
            program_id, funded_payer.pubkey(), len(ata_elf) - len(memo_elf)
        )
        await send(client, [funded_payer], [extend])
        await upgrade(client, funded_payer, program_id, ata_elf)
        with pytest.raises(RPCException) as memo_to_ata:
            await send(client, [funded_payer], [memo_to(program_id, "now ATA")])
        programdata = loader_v3.programdata_address(program_id)
        handover = loader_v3.set_authority(
            programdata, funded_payer.pubkey(), new_authority.pubkey()
        )
        await send(client, [funded_payer], [handover])
        with pytest.raises(RPCException) as stale_authority:
            await upgrade(client, funded_payer, program_id, memo_elf)
        account = (await client.get_account_info(programdata)).value
    failed = memo_to_ata.value.args[0].data.err
    assert isinstance(failed, TransactionErrorInstructionError)
    assert failed.err == InstructionErrorFieldless.InvalidInstructionData
    assert isinstance(
        stale_authority.value.args[0].data.err, TransactionErrorInstructionError
    )
    stored = account.data[loader_v3.PROGRAMDATA_HEADER_BYTES :]
    assert stored == ata_elf
    assert account.data[13:45] == bytes(new_authority.pubkey())


async def test_close_buffer_refunds_and_unlists(localnet, funded_payer):
    authority = funded_payer.pubkey()
    recipient = Keypair().pubkey()
    async with AsyncClient(localnet.url) as client:
        buffer = await write_buffer(client, funded_payer, memo_v3_elf())
        rent = (await client.get_balance(buffer.pubkey())).value
        listed = (
            await client.get_program_accounts(
                loader_v3.LOADER_V3_ID,
                filters=[MemcmpOpts(offset=5, bytes=str(authority))],
            )
        ).value
        close = loader_v3.close_buffer(buffer.pubkey(), recipient, authority)
        await send(client, [funded_payer], [close])
        refunded = (await client.get_balance(recipient)).value
        closed_account = (await client.get_account_info(buffer.pubkey())).value
        after = (
            await client.get_program_accounts(
                loader_v3.LOADER_V3_ID,
                filters=[MemcmpOpts(offset=5, bytes=str(authority))],
            )
        ).value
    assert buffer.pubkey() in {entry.pubkey for entry in listed}
    assert refunded == rent
    assert closed_account is None
    assert buffer.pubkey() not in {entry.pubkey for entry in after}
