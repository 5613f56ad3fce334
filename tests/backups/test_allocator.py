"""The malloc arena limit that keeps backup and restore memory flat."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from slopops.backups.allocator import limit_arenas

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt arenas are a glibc setting"
)


@glibc_only
def test_limit_takes_effect_on_glibc() -> None:
    # In a child, so this test process keeps glibc's default.
    code = "from slopops.backups.allocator import limit_arenas; print(limit_arenas(2))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "True"


# Eight threads hold blocks below the mmap threshold at the same time, so
# each wants an arena of its own. malloc_stats() prints one "Arena N:" block
# per arena to stderr.
_ARENA_PROBE = """
import ctypes, sys, threading
if sys.argv[1] == "limit":
    from slopops.backups.allocator import limit_arenas
    assert limit_arenas(2)
barrier = threading.Barrier(8)
def work():
    blocks = [bytearray(64_000) for _ in range(8)]
    barrier.wait()
    del blocks
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _ARENA_PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(line.startswith("Arena") for line in result.stderr.splitlines())


@glibc_only
def test_threads_share_two_arenas_after_the_limit() -> None:
    # Without the limit the same threads make more arenas, so the probe works.
    assert _arenas("default") > 2
    assert _arenas("limit") <= 2


def test_limit_reports_false_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))

    assert limit_arenas(2) is False
