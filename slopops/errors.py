"""Base exception of every engine.

Each engine defines its own errors in its ``errors`` module, all below
:class:`SlopopsError`::

    SlopopsError
    ├── config.errors.ProfileError         a settings profile is invalid
    ├── slopops.localnet.errors.*          the local chain
    ├── slopops.programs.errors.*          program releases
    ├── slopops.arweave.errors.*           Arweave client
    ├── slopops.backups.errors.*           backups and restores
    ├── slopops.fleet.errors.*             SSH and PM2 node releases
    ├── slopops.mcp.errors.*               Fly Machines and MCP releases
    └── slopops.stack.errors.*             the local stack

Messages are one sentence: what failed, the value with ``!r``, what to do next.
"""


class SlopopsError(Exception):
    """Base class of every error raised by slopmachine-ops on purpose."""


class TransientError(SlopopsError):
    """A failure that may pass on retry: a timeout, a 5xx or a 429 response.

    Prefect tasks retry only on this class. Every other error is final.
    """
