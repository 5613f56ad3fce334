"""The MCP server on this machine: a PM2 app released through the node code path.

With ``mcp.mode = "local"`` the server is ``mcp.local_node``, a node reached
over SSH like any agent node, so deploy, health check, rollback and records
are the fleet's. Its relative ``app_dir`` and ``pm2_home`` are resolved
against the workspace, because the node is this machine.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from config.settings import FleetSettings, NodeSettings, Settings
from slopops.fleet import Fleet, resolve_fleet, resolve_node
from slopops.fleet.release import Release, build_sample_release
from slopops.fleet.report import RolloutReport

_TARBALL_SUFFIX = re.compile(r"(\.tar\.gz|\.tgz)$")
_MAX_ID_LENGTH = 128


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


def local_release_id(image: str) -> str:
    """Return the local release id of a tarball path or an image reference."""
    if _TARBALL_SUFFIX.search(image):
        return _TARBALL_SUFFIX.sub("", Path(image).name)
    release_id = re.sub(r"[^A-Za-z0-9._-]", "-", image).lstrip("._-") or "image"
    if len(release_id) > _MAX_ID_LENGTH:
        # Keep long references (digests) distinct after truncation.
        digest = hashlib.sha256(image.encode()).hexdigest()[:12]
        release_id = f"{release_id[: _MAX_ID_LENGTH - 13]}-{digest}"
    return release_id


def local_release(settings: Settings, image: str) -> Release:
    """Return the release to deploy locally for ``image``.

    A path ending in .tar.gz or .tgz (absolute, or relative to the workspace)
    is used as it is. Any other value is an image reference, for which the
    sample app is built under ``<state_dir>/mcp-releases``.
    """
    release_id = local_release_id(image)
    if _TARBALL_SUFFIX.search(image):
        return Release.from_tarball(settings.resolve(Path(image)), release_id)
    output_dir = settings.resolve(settings.state_dir) / "mcp-releases"
    return build_sample_release(output_dir, release_id)
