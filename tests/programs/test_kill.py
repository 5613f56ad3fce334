"""A deploy killed with SIGKILL during its buffer write, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from config import load_settings
from slopops.programs import (
    ProgramTarget,
    program_inventory,
    release_program,
    write_release_buffer,
)
from tests.fixtures.localnet import Localnet
from tests.programs.conftest import Elfs
from tests.programs.test_cli import write_profile
from tests.solana.servers import Reply, forward, scripted_server

SLOPOPS = Path(sys.executable).parent / "slopops"
WRITES_PER_BATCH = 8
BATCHES_BEFORE_KILL = 5


async def test_killed_deploy_resumes_buffer(
    localnet: Localnet, tmp_path: Path, elfs: Elfs
) -> None:
    upstream = forward(localnet.url)
    batches: list[int] = []

    def slow_batches(request: Any) -> Reply:
        # Slow batches give the test time to kill the deploy half way.
        if isinstance(request, list):
            time.sleep(0.2)
            reply = upstream(request)
            batches.append(len(request))
            return reply
        return upstream(request)

    with scripted_server(slow_batches) as proxy:
        config_dir = write_profile(
            localnet,
            tmp_path,
            elfs.associated_token,
            url=proxy.url,
            program_lines=f"write_concurrency = {WRITES_PER_BATCH}",
        )
        command = [str(SLOPOPS), "program", "deploy", "--env", "local"]
        command += ["--program", "demo", "--config-dir", str(config_dir)]
        deploy = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while len(batches) < BATCHES_BEFORE_KILL:
                assert deploy.poll() is None, "the deploy ended before the kill"
                assert time.monotonic() < deadline, "the deploy sent no writes"
                time.sleep(0.01)
        finally:
            os.kill(deploy.pid, signal.SIGKILL)
            deploy.wait(timeout=10)
        landed = sum(batches)

        target = ProgramTarget.from_settings(load_settings("local", config_dir), "demo")
        resumed = await write_release_buffer(target, elfs.associated_token)

    assert not resumed.created
    assert resumed.chunks_skipped >= BATCHES_BEFORE_KILL * WRITES_PER_BATCH
    assert resumed.chunks_skipped <= landed
    assert resumed.chunks_written == resumed.chunks_total - resumed.chunks_skipped
    assert resumed.write_transactions == resumed.chunks_written
    direct = replace(target, rpc=target.rpc.model_copy(update={"url": localnet.url}))
    outcome = await release_program(direct, elfs.associated_token)
    assert outcome.buffer.address == resumed.address
    assert outcome.buffer.write_transactions == 0
    assert (await program_inventory(direct)).buffers == []
