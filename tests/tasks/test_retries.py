"""The shared retry policy, through real Prefect task runs."""

from __future__ import annotations

import pytest
from prefect import flow, task

from slopops.errors import TransientError
from tasks.retries import retry_transient

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _counting_task(error: Exception, fail_times: int):
    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_transient)
    async def flaky() -> int:
        calls.append(1)
        if len(calls) <= fail_times:
            raise error
        return len(calls)

    return flaky, calls


async def test_transient_error_retried() -> None:
    flaky, calls = _counting_task(TransientError("RPC timed out"), fail_times=2)

    @flow
    async def run() -> int:
        return await flaky()

    assert await run() == 3
    assert len(calls) == 3


async def test_final_error_not_retried() -> None:
    flaky, calls = _counting_task(ValueError("bad ELF"), fail_times=2)

    @flow
    async def run() -> int:
        return await flaky()

    with pytest.raises(ValueError, match="bad ELF"):
        await run()
    assert len(calls) == 1


def test_sync_task_retried_on_transient() -> None:
    calls: list[int] = []

    @task(retries=1, retry_delay_seconds=0, retry_condition_fn=retry_transient)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise TransientError("gateway answered 503")
        return "ok"

    @flow
    def run() -> str:
        return flaky()

    assert run() == "ok"
    assert len(calls) == 2
