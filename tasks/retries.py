"""Retry policy shared by every task: transient errors only."""

from __future__ import annotations

from typing import Any

from slopops.errors import TransientError


def retry_transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Return whether a failed task run should be retried.

    Only :class:`slopops.errors.TransientError` (timeouts, 5xx, 429) is
    retried; bad input, a wrong genesis hash or a rejected release fail at once.
    """
    # Prefect 3.9 hands over Failed(data=exception). Calling state.result()
    # inside the async task engine returns a coroutine instead of raising, so
    # the exception is read from the state's data.
    return isinstance(getattr(state, "data", None), TransientError)
