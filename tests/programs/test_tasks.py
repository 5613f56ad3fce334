"""Prefect tasks: retries on transient errors only, and release artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.states import Failed

from slopops.programs.errors import GenesisHashMismatchError
from slopops.solana import RpcUnavailableError
from tasks.programs import (
    failure_rate_task,
    preflight_program,
    release_program_task,
    rollback_program_task,
)
from tasks.retries import retry_transient
from tests.fixtures.localnet import Localnet
from tests.programs.conftest import Elfs, Keys, make_target
from tests.solana.servers import Reply, forward, scripted_server

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def artifacts(key: str) -> list[Any]:
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


async def test_release_and_rollback_artifacts(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    target = make_target(localnet, keys, tmp_path / "state")

    @flow
    async def release_then_rollback() -> tuple[Any, Any, Any]:
        first = await release_program_task(target, elfs.memo_v3)
        second = await release_program_task(target, elfs.associated_token)
        back = await rollback_program_task(target)
        return first, second, back

    first, second, back = await release_then_rollback()

    assert first.record.kind == "deploy"
    assert second.record.kind == "upgrade"
    assert back.record.sha256 == first.record.sha256
    release = await artifacts("program-local-demo-release")
    progress = await artifacts("program-local-demo-buffer-write")
    rollback = await artifacts("program-local-demo-rollback")
    assert any(second.record.sha256 in str(a.data) for a in release)
    assert any(first.record.sha256 in str(a.data) for a in release)
    assert {a.type for a in progress} == {"progress"}
    assert max(float(a.data) for a in progress) == 100.0
    assert "| old sha256 |" in str(rollback[0].data)


async def test_transient_rpc_failure_retried(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    upstream = forward(localnet.url)
    failures = []

    def flaky(request: dict[str, Any]) -> Reply:
        if len(failures) < 2:
            failures.append(request["method"])
            return Reply(status=503, body={"error": "unavailable"})
        return upstream(request)

    with scripted_server(flaky) as proxy:
        target = make_target(localnet, keys, tmp_path / "state", urls=[proxy.url])

        @flow
        async def check() -> Any:
            task = preflight_program.with_options(retry_delay_seconds=0)
            return await task(target, elfs.memo_v3)

        report = await check()

    assert failures == ["getGenesisHash", "getGenesisHash"]
    assert report.first_deploy


def test_retry_condition_transient_only() -> None:
    transient = Failed(data=RpcUnavailableError("getSlot", ["http://127.0.0.1:1"], "x"))
    final = Failed(data=GenesisHashMismatchError("demo", "a", "b"))

    assert retry_transient(None, None, transient)
    assert not retry_transient(None, None, final)


async def test_final_error_not_retried(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    with scripted_server(forward(localnet.url)) as proxy:
        target = make_target(
            localnet,
            keys,
            tmp_path / "state",
            urls=[proxy.url],
            genesis_hash="EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
        )

        @flow
        async def check() -> Any:
            task = preflight_program.with_options(retry_delay_seconds=0)
            return await task(target, elfs.memo_v3)

        with pytest.raises(GenesisHashMismatchError):
            await check()

    assert proxy.methods().count("getGenesisHash") == 1


async def test_failure_rate_task_defaults_to_window(
    localnet: Localnet, keys: Keys, tmp_path: Path
) -> None:
    target = make_target(localnet, keys, tmp_path / "state")

    @flow
    async def probe() -> Any:
        return await failure_rate_task(target.rpc, str(keys.program.pubkey()))

    rate = await probe()

    assert rate.samples == 0
    assert rate.rate is None
    assert rate.window_seconds == 300
