"""The three parts of a release and how each is deployed and rolled back.

Program and node parts run the tasks of ``tasks.releases``; the MCP part
runs ``deploy_mcp``, ``verify_mcp`` and ``rollback_mcp`` of ``tasks.mcp``.
A part that the bundle does not carry is skipped, so a bundle may hold only
a program, or only a node release.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from config import Settings
from slopops.bundles import Bundle, Manifest, Part, Release
from slopops.errors import SlopopsError


class PartUnavailableError(SlopopsError):
    """The engine behind a release part is not installed.

    Attributes:
        part: The part (program, nodes, mcp).
        module: The task module that could not be imported.
    """

    def __init__(self, part: str, module: str) -> None:
        self.part = part
        self.module = module
        super().__init__(
            f"release part {part!r} needs task module {module!r}, which is not "
            "installed; install the engine or remove the part from the bundle"
        )


def _operations(part: Part) -> ModuleType:
    module = {
        "program": "tasks.releases",
        "nodes": "tasks.releases",
        "mcp": "tasks.mcp",
    }[part]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise PartUnavailableError(part, module) from exc


_FUNCTIONS = {
    "program": ("deploy_programs", "verify_programs", "rollback_programs"),
    "nodes": ("deploy_nodes", "verify_nodes", "rollback_nodes"),
    "mcp": ("deploy_mcp", "verify_mcp", "rollback_mcp"),
}


@dataclass(frozen=True)
class PartResult:
    """The outcome of one deploy, verify or rollback step, for the run's summary."""

    part: Part
    action: str
    detail: str
    seconds: float


def carried_parts(manifest: Manifest) -> list[Part]:
    """Return the parts a bundle carries, in deploy order."""
    parts: list[Part] = []
    if manifest.programs:
        parts.append("program")
    if manifest.node_release is not None:
        parts.append("nodes")
    if manifest.mcp_image is not None:
        parts.append("mcp")
    return parts


def _run(part: Part, step: int, *args: Any) -> Any:
    task = getattr(_operations(part), _FUNCTIONS[part][step])
    # submit() runs sync and async tasks alike from this sync flow.
    return task.submit(*args).result()


def deploy_part(part: Part, settings: Settings, bundle: Bundle) -> Any:
    """Deploy one part of ``bundle`` to the environment of ``settings``."""
    return _run(part, 0, settings, bundle)


def rollback_part(part: Part, settings: Settings, good: Release | None) -> Any:
    """Put one part back to the last known good release ``good``."""
    return _run(part, 2, settings, good)


def verify_part(part: Part, settings: Settings, release: Release) -> Any:
    """Check that one part runs ``release`` (the post-deploy check)."""
    return _run(part, 1, settings, release)
