"""MCP server releases: Fly Machines, or a local PM2 app through the node path."""

from __future__ import annotations

from config.settings import Settings
from slopops.mcp.fly import Machine, MachinesClient
from slopops.mcp.release import FlyRelease, load_token
from slopops.mcp.report import MachineOutcome, McpReport

__all__ = [
    "FlyRelease",
    "Machine",
    "MachineOutcome",
    "MachinesClient",
    "McpReport",
    "load_token",
    "open_fly_release",
]


def open_fly_release(settings: Settings, poll_seconds: float = 1.0) -> FlyRelease:
    """Build a :class:`FlyRelease` for the profile's Fly app; close its client after.

    Raises:
        ValueError: The profile's MCP server is not on Fly.
        MissingTokenError: No API token is configured.
    """
    mcp = settings.mcp
    if mcp.mode != "fly" or not mcp.fly_app or mcp.machines_api_url is None:
        raise ValueError(
            f"mcp.mode is {mcp.mode!r} in the {settings.environment} profile; "
            "the Fly commands need mode 'fly', mcp.fly_app and mcp.machines_api_url"
        )
    token = load_token(mcp, settings.resolve)
    client = MachinesClient(str(mcp.machines_api_url), mcp.fly_app, token)
    return FlyRelease(client, mcp, poll_seconds=poll_seconds)
