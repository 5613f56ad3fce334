"""Bound the number of glibc malloc arenas in a process that moves backups.

glibc gives each thread that allocates its own arena, up to eight per core.
The upload, read-back and download threads each handle chunk buffers of a
few hundred KiB, and freed buffers left behind in several arenas make the
peak RSS grow with the size of the backup. With two arenas it stays flat.
In ``python -m bench backups --size-mb 400 --small-mb 40``, from a 67 MiB
to a 673 MiB database, the backup's peak RSS went from 116 to 136 MiB by
default and from 112 to 116 MiB with two arenas. The restore's went from
114 to 126 MiB, against 110 to 116 MiB.

The limit applies to the whole process and is never lifted. The worker and
its image also set ``MALLOC_ARENA_MAX=2``, which glibc reads at start-up, so
the limit applies even where this call comes too late (see :func:`limit_arenas`).
"""

from __future__ import annotations

import ctypes
import logging
import platform

logger = logging.getLogger(__name__)

# From glibc's malloc.h.
_M_ARENA_MAX = -8
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Ask malloc to create at most ``count`` arenas; return whether glibc accepted.

    Arenas made before the call stay, so call it before data-moving threads
    start. Once a process has had more than eight arenas, glibc has fixed its
    limit and accepts the request without effect. Elsewhere than on glibc this
    does nothing and returns False.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = mallopt(_M_ARENA_MAX, count) == 1
    if not applied:
        logger.warning("glibc rejected the malloc arena limit of %d", count)
    return applied
