"""Dependency install paths of a release: npm ci, reuse of a kept release, none.

``npm ci --omit=dev`` costs CPU time on the node even for an app without
dependencies, and deploys often ship the same package-lock.json as the
release before. The deployer reads the tarball once per release, before the
upload, and picks one of four plans:

- ``none``: no package-lock.json, so nothing is installed (npm ci needs one);
- ``skip``: the lockfile lists no packages, package.json declares no
  dependencies and no install scripts, and the tarball has no binding.gyp or
  node_modules, so npm ci would install nothing;
- ``reuse``: the lockfile is in sync with package.json and lists no nested
  node_modules trees. The release has no root install scripts, binding.gyp
  or node_modules. The node hard-links node_modules from a kept release
  whose package-lock.json is byte-identical, and runs npm ci if none has one;
- ``install``: anything else runs npm ci, which deletes a shipped
  node_modules first and reports a lockfile out of sync with package.json.
  Package files that are not valid JSON and a tarball that cannot be read
  here also get this plan, so the node's own checks report the error.

The node prints one line starting with ``dependencies:`` that names the path
taken; :class:`slopops.fleet.node.NodeRelease` logs it.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slopops.fleet.release import Release

logger = logging.getLogger(__name__)

DependencyMode = Literal["none", "skip", "reuse", "install"]

# Line prefix of the install script's report of the path taken.
REPORT_PREFIX = "dependencies: "

# Dependency maps of package.json, as npm compares them with the lockfile.
_DEPENDENCY_FIELDS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
)
# Root scripts that npm ci runs even when it installs no package, from the
# "Life Cycle Operation Order" of npm's scripts documentation (npm 9 to 11),
# and "dependencies", which runs after node_modules changes.
_INSTALL_SCRIPTS = (
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
    "dependencies",
)
# The notifier would ask the registry for npm's latest version on each run.
_NPM_CI = "npm ci --omit=dev --no-audit --no-fund --no-update-notifier"
# Errors of reading a tarball that is missing, truncated or not gzip.
_UNREADABLE_TARBALL_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


@dataclass(frozen=True)
class DependencyPlan:
    """The dependency install path chosen for a release, and why."""

    mode: DependencyMode
    reason: str


def plan_dependencies(release: Release) -> DependencyPlan:
    """Read the release's package files and choose how to install its packages.

    A tarball that cannot be read here gets the ``install`` plan, so the
    node's ``tar -xzf`` reports it. The result is cached per tarball path
    and sha256, so a rollout reads each tarball once however many nodes it
    deploys to.
    """
    return _plan_for_tarball(str(release.tarball), release.sha256)


@dataclass(frozen=True)
class TarballContents:
    """Facts about a release tarball's tree that the plan needs."""

    # Whether the tarball has a root node_modules directory or files under it.
    ships_node_modules: bool = False
    # Whether the tarball has a binding.gyp at its root.
    has_binding_gyp: bool = False


@functools.lru_cache(maxsize=32)
def _plan_for_tarball(tarball: str, sha256: str) -> DependencyPlan:
    # sha256 is only part of the cache key: a rebuilt tarball is read again.
    try:
        files, contents = _read_tarball(
            Path(tarball), ("package.json", "package-lock.json")
        )
    except _UNREADABLE_TARBALL_ERRORS as exc:
        logger.warning(
            "tarball %s (sha256 %s) is unreadable here, planning npm ci: %s",
            tarball,
            sha256,
            exc,
        )
        return DependencyPlan("install", "tarball unreadable here")
    return plan_from_files(
        files.get("package.json"), files.get("package-lock.json"), contents
    )


def plan_from_files(
    package_json: bytes | None,
    package_lock: bytes | None,
    contents: TarballContents | None = None,
) -> DependencyPlan:
    """Choose the install path from the raw package files and the tarball's tree.

    ``contents`` defaults to a tarball without node_modules and binding.gyp.
    """
    contents = contents or TarballContents()
    if package_lock is None:
        return DependencyPlan("none", "no package-lock.json, npm ci not run")
    try:
        manifest = json.loads(package_json) if package_json is not None else {}
        lock = json.loads(package_lock)
    except ValueError:
        return DependencyPlan("install", "package files are not valid JSON")
    if not isinstance(manifest, dict) or not isinstance(lock, dict):
        return DependencyPlan("install", "package files are not JSON objects")
    scripts = manifest.get("scripts") or {}
    install_scripts = sorted(name for name in _INSTALL_SCRIPTS if name in scripts)
    if install_scripts:
        return DependencyPlan(
            "install", f"package.json has install scripts {install_scripts}"
        )
    # npm adds the install script "node-gyp rebuild" when the root has a
    # binding.gyp and no install or preinstall script, unless package.json
    # sets "gypfile": false (@npmcli/package-json lib/normalize.js, npm 11.19).
    if contents.has_binding_gyp and manifest.get("gypfile") is not False:
        return DependencyPlan(
            "install", "binding.gyp makes npm run node-gyp rebuild on install"
        )
    # npm ci deletes a shipped node_modules, but skip would keep it and
    # reuse's cp -al would nest the kept tree inside it.
    if contents.ships_node_modules:
        return DependencyPlan("install", "the tarball ships node_modules")
    declared = _declared_dependencies(manifest)
    if declared is None:
        return DependencyPlan("install", "package.json has an invalid dependency map")
    if not declared and not _locked_packages(lock):
        return DependencyPlan("skip", "package-lock.json lists no dependencies")
    nested = _nested_node_modules(lock)
    if nested:
        return DependencyPlan(
            "install",
            f"package-lock.json has nested node_modules, such as {nested[0]}",
        )
    if not _lock_matches_manifest(lock, declared):
        return DependencyPlan(
            "install", "package-lock.json does not match package.json"
        )
    return DependencyPlan("reuse", "package-lock.json is in sync with package.json")


def install_script(
    plan: DependencyPlan, release_dir: str, candidate_dirs: Sequence[str]
) -> str:
    """Return the shell commands that give ``release_dir`` its node_modules.

    Args:
        plan: The path chosen by :func:`plan_dependencies`.
        release_dir: The unpacked release, already shell-quoted.
        candidate_dirs: Kept releases to reuse node_modules from, best first,
            as absolute paths (not quoted).

    The commands print one ``dependencies:`` line. Pruning a release deletes
    only its directory entries, so the hard links of other releases remain.

    NOTE: hard links share inodes. An app that writes into a file under its
    node_modules in place also changes that file in the earlier releases
    that share it, the rollback targets included.
    """
    if plan.mode == "none":
        return _report(plan.reason)
    if plan.mode == "skip":
        return _report(f"npm ci skipped, {plan.reason}")
    npm_ci = f"{_report(f'{_NPM_CI}, {plan.reason}')}; cd {release_dir} && {_NPM_CI}"
    if plan.mode == "install" or not candidate_dirs:
        return npm_ci
    # A failed cp -al leaves a partial tree, removed before the next candidate.
    # set -e does not stop the script inside an if test, so the loop goes on.
    candidates = " ".join(shlex.quote(path) for path in candidate_dirs)
    reused = (
        f'echo "{REPORT_PREFIX}node_modules hard-linked from release '
        '${source##*/}, identical package-lock.json"'
    )
    not_found = _report("no kept release has an identical package-lock.json")
    return (
        f"reused=; for source in {candidates}; do "
        f'if [ -d "$source/node_modules" ] && '
        f'cmp -s "$source/package-lock.json" {release_dir}/package-lock.json; then '
        f'if cp -al "$source/node_modules" {release_dir}/node_modules; then '
        f"reused=yes; {reused}; break; fi; "
        f"rm -rf {release_dir}/node_modules; fi; done; "
        f'if [ -z "$reused" ]; then {not_found}; {npm_ci}; fi'
    )


def report_lines(stdout: str) -> list[str]:
    """Return the ``dependencies:`` lines of the install script's output."""
    return [
        line[len(REPORT_PREFIX) :].strip()
        for line in stdout.splitlines()
        if line.startswith(REPORT_PREFIX)
    ]


def _report(text: str) -> str:
    return f"echo {shlex.quote(REPORT_PREFIX + text)}"


def _declared_dependencies(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Return package.json's non-empty dependency maps, or None if one is invalid."""
    declared: dict[str, Any] = {}
    for field in _DEPENDENCY_FIELDS:
        value = manifest.get(field)
        if value and not isinstance(value, dict):
            return None
        if value:
            declared[field] = value
    return declared


def _locked_packages(lock: dict[str, Any]) -> list[str]:
    """Return the lockfile's package keys other than the root project."""
    packages = lock.get("packages")
    if isinstance(packages, dict):
        return [key for key in packages if key != ""]
    # Lockfile version 1 has no "packages", only a "dependencies" tree.
    dependencies = lock.get("dependencies")
    return list(dependencies) if isinstance(dependencies, dict) else []


def _nested_node_modules(lock: dict[str, Any]) -> list[str]:
    """Return lockfile package keys with a node_modules tree outside the root.

    Workspaces and file: dependencies install into paths such as
    ``packages/a/node_modules/x``, which reuse does not copy.
    """
    packages = lock.get("packages")
    if not isinstance(packages, dict):
        return []
    return [
        key
        for key in packages
        if "node_modules/" in key and not key.startswith("node_modules/")
    ]


def _lock_matches_manifest(lock: dict[str, Any], declared: dict[str, Any]) -> bool:
    """Check that the lockfile's root entry records package.json's dependencies.

    npm writes the root project's dependency maps into ``packages[""]`` of a
    version 2 or 3 lockfile. Equal maps mean the lockfile was written for
    this package.json, which npm ci would also accept. A version 1 lockfile
    has no root entry, so it never matches and npm ci runs.
    """
    packages = lock.get("packages")
    if not isinstance(packages, dict) or not isinstance(packages.get(""), dict):
        return False
    root = packages[""]
    locked = {field: root[field] for field in _DEPENDENCY_FIELDS if root.get(field)}
    return locked == declared


def _read_tarball(
    tarball: Path, names: Sequence[str]
) -> tuple[dict[str, bytes], TarballContents]:
    """Return the named root files of a gzipped tarball and a summary of its tree.

    Raises:
        tarfile.TarError, EOFError, zlib.error, OSError: The tarball is
            missing, truncated or not gzip.
    """
    found: dict[str, bytes] = {}
    ships_node_modules = False
    has_binding_gyp = False
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if name == "node_modules" or name.startswith("node_modules/"):
                ships_node_modules = True
            if name == "binding.gyp" and member.isfile():
                has_binding_gyp = True
            if name in names and member.isfile() and name not in found:
                handle = archive.extractfile(member)
                if handle is not None:
                    found[name] = handle.read()
    return found, TarballContents(ships_node_modules, has_binding_gyp)
