"""The MCP server on this machine: a PM2 app released through the node code path.

With ``mcp.mode = "local"`` the server is ``mcp.local_node``, a node reached
over SSH like any agent node, so deploy, health check, rollback and records
are the fleet's. Its relative ``app_dir`` and ``pm2_home`` are resolved
against the workspace, because the node is this machine.
"""

from __future__ import annotations

from config.settings import FleetSettings, NodeSettings, Settings
from slopops.fleet import Fleet, resolve_fleet, resolve_node
from slopops.fleet.release import Release
from slopops.fleet.report import RolloutReport


def local_mcp_node(settings: Settings) -> NodeSettings:
    """Return the local MCP node with its paths made absolute.

    Raises:
        ValueError: The profile's MCP server is not local.
    """
    node = settings.mcp.local_node
    if settings.mcp.mode != "local" or node is None:
        raise ValueError(
            f"mcp.mode is {settings.mcp.mode!r} in the {settings.environment} "
            "profile; the local MCP commands need mode 'local' and mcp.local_node"
        )
    return resolve_node(settings, node)


def local_mcp_fleet(settings: Settings) -> tuple[FleetSettings, NodeSettings]:
    """Return fleet settings holding only the local MCP node, and that node."""
    node = local_mcp_node(settings)
    fleet = resolve_fleet(settings).model_copy(
        update={"nodes": [node], "batch_size": "1", "max_failure_percent": 0.0}
    )
    return fleet, node


def deploy_local(settings: Settings, release: Release) -> RolloutReport:
    """Deploy a release tarball to the local MCP app and check its health."""
    fleet, node = local_mcp_fleet(settings)
    return Fleet(fleet).roll_out(release, [node])


def rollback_local(settings: Settings) -> RolloutReport:
    """Roll the local MCP app back to its last known good release."""
    fleet, node = local_mcp_fleet(settings)
    return Fleet(fleet).roll_back([node])


def status_local(settings: Settings) -> RolloutReport:
    """Report the local MCP app's release and health."""
    fleet, node = local_mcp_fleet(settings)
    return Fleet(fleet).status([node])
