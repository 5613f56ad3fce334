"""Programs deployed, upgraded and closed through loader v3 on the local chain."""

from __future__ import annotations

import asyncio

from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.signature import Signature

from slopops.localnet.builtin_programs import (
    memo_v3_elf,
)
from tests.localnet import loader_v3
from tests.localnet.chain import memo, send


async def write_buffer(client: AsyncClient, payer: Keypair, elf: bytes) -> Keypair:
    """Create a buffer holding ``elf``, writing its chunks concurrently."""
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
) -> tuple[Keypair, Signature]:
    buffer = await write_buffer(client, payer, elf)
    program = Keypair()
    rent = (
        await client.get_minimum_balance_for_rent_exemption(
            loader_v3.PROGRAM_ACCOUNT_BYTES
        )
    ).value
    signature = await send(
        client,
        [payer, program],
        loader_v3.deploy(
            payer.pubkey(),
            program.pubkey(),
            buffer.pubkey(),
            payer.pubkey(),
            rent,
            max_data_len,
        ),
    )
    return program, signature


async def test_deploy_memo_v3_then_invoke(localnet, funded_payer):
    elf = memo_v3_elf()
    async with AsyncClient(localnet.url) as client:
        program, _ = await deploy(client, funded_payer, elf, 2 * len(elf))
        programdata = loader_v3.programdata_address(program.pubkey())
        account = (await client.get_account_info(programdata)).value
        stored = account.data[loader_v3.PROGRAMDATA_HEADER_BYTES :]
        assert stored[: len(elf)] == elf
        assert len(stored) == 2 * len(elf)
        instruction = memo("deployed", funded_payer.pubkey())
        instruction = type(instruction)(
            program.pubkey(), instruction.data, instruction.accounts
        )
        signature = await send(client, [funded_payer], [instruction])
        transaction = (await client.get_transaction(signature)).value
    assert transaction.transaction.meta.err is None
    assert (
        'Program log: Memo (len 8): "deployed"'
        in transaction.transaction.meta.log_messages
        or any("deployed" in line for line in transaction.transaction.meta.log_messages)
    )
