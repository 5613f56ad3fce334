"""Choice of the dependency install path from package.json and the lockfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slopops.fleet.dependencies import (
    TarballContents,
    plan_dependencies,
    plan_from_files,
)
from slopops.fleet.release import SAMPLE_APP_DIR, Release, build_sample_release

ROOT = {"name": "app", "version": "1.0.0"}


def _lock(root: dict, **packages: dict) -> bytes:
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": root, **packages},
    }
    return json.dumps(lock).encode()


def _manifest(**fields: object) -> bytes:
    return json.dumps({**ROOT, **fields}).encode()


def test_no_lockfile_installs_nothing() -> None:
    assert plan_from_files(_manifest(), None).mode == "none"


def test_empty_lockfile_is_skipped() -> None:
    plan = plan_from_files(_manifest(), _lock(ROOT))
    assert plan.mode == "skip"
    assert plan.reason == "package-lock.json lists no dependencies"


def test_sample_app_is_skipped(tmp_path) -> None:
    release = build_sample_release(tmp_path, "A")
    assert plan_dependencies(release).mode == "skip"
    assert (SAMPLE_APP_DIR / "package-lock.json").exists()


def test_locked_dependencies_allow_reuse() -> None:
    dependencies = {"left-pad": "^1.3.0"}
    lock = _lock(
        {**ROOT, "dependencies": dependencies},
        **{"node_modules/left-pad": {"version": "1.3.0"}},
    )
    plan = plan_from_files(_manifest(dependencies=dependencies), lock)
    assert plan.mode == "reuse"


def test_lockfile_out_of_sync_runs_npm_ci() -> None:
    # package.json declares a dependency that the lockfile does not list.
    plan = plan_from_files(_manifest(dependencies={"left-pad": "1.3.0"}), _lock(ROOT))
    assert plan.mode == "install"
    assert "does not match package.json" in plan.reason


def test_changed_range_runs_npm_ci() -> None:
    lock = _lock(
        {**ROOT, "dependencies": {"left-pad": "^1.2.0"}},
        **{"node_modules/left-pad": {"version": "1.2.0"}},
    )
    plan = plan_from_files(_manifest(dependencies={"left-pad": "^1.3.0"}), lock)
    assert plan.mode == "install"


def test_dev_dependencies_only_are_not_skipped() -> None:
    dev = {"jest": "^29.0.0"}
    lock = _lock(
        {**ROOT, "devDependencies": dev},
        **{"node_modules/jest": {"version": "29.0.0", "dev": True}},
    )
    assert plan_from_files(_manifest(devDependencies=dev), lock).mode == "reuse"


def test_install_scripts_run_npm_ci() -> None:
    manifest = _manifest(scripts={"postinstall": "node build.js", "start": "x"})
    plan = plan_from_files(manifest, _lock(ROOT))
    assert plan.mode == "install"
    assert "['postinstall']" in plan.reason


def test_lockfile_version_1_runs_npm_ci() -> None:
    lock = json.dumps(
        {"lockfileVersion": 1, "dependencies": {"left-pad": {"version": "1.3.0"}}}
    ).encode()
    plan = plan_from_files(_manifest(dependencies={"left-pad": "1.3.0"}), lock)
    assert plan.mode == "install"


def test_invalid_json_runs_npm_ci() -> None:
    assert plan_from_files(b"{", _lock(ROOT)).mode == "install"
    assert plan_from_files(_manifest(), b"[1, 2]").mode == "install"
    assert plan_from_files(_manifest(dependencies=["x"]), _lock(ROOT)).mode == (
        "install"
    )


def _reuse_case() -> tuple[bytes, bytes]:
    """Return package.json and a lockfile that on their own allow reuse."""
    dependencies = {"left-pad": "^1.3.0"}
    lock = _lock(
        {**ROOT, "dependencies": dependencies},
        **{"node_modules/left-pad": {"version": "1.3.0"}},
    )
    return _manifest(dependencies=dependencies), lock


def test_non_gzip_tarball_runs_npm_ci(tmp_path: Path) -> None:
    tarball = tmp_path / "broken.tar.gz"
    tarball.write_bytes(b"this is not gzip\n" * 10)
    plan = plan_dependencies(Release.from_tarball(tarball))
    assert plan.mode == "install"
    assert plan.reason == "tarball unreadable here"


def test_shipped_node_modules_read_from_tarball(tmp_path: Path) -> None:
    release = build_sample_release(
        tmp_path,
        "A",
        replace_files={"node_modules/left-pad/index.js": "module.exports = 1;\n"},
    )
    plan = plan_dependencies(release)
    assert plan.mode == "install"
    assert plan.reason == "the tarball ships node_modules"


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        (TarballContents(ships_node_modules=True), "the tarball ships node_modules"),
        (
            TarballContents(has_binding_gyp=True),
            "binding.gyp makes npm run node-gyp rebuild on install",
        ),
    ],
)
def test_tarball_tree_runs_npm_ci(contents: TarballContents, reason: str) -> None:
    manifest, lock = _reuse_case()
    plan = plan_from_files(manifest, lock, contents)
    assert plan.mode == "install"
    assert plan.reason == reason
    # Without dependencies npm ci still runs, where skip would do nothing.
    assert plan_from_files(_manifest(), _lock(ROOT), contents).mode == "install"


def test_binding_gyp_with_gypfile_false_reuses() -> None:
    gyp = TarballContents(has_binding_gyp=True)
    dependencies = {"left-pad": "^1.3.0"}
    _, lock = _reuse_case()
    manifest = _manifest(dependencies=dependencies, gypfile=False)
    assert plan_from_files(manifest, lock, gyp).mode == "reuse"


def test_binding_gyp_read_from_tarball(tmp_path: Path) -> None:
    release = build_sample_release(
        tmp_path, "A", replace_files={"binding.gyp": '{"targets": []}\n'}
    )
    assert plan_dependencies(release).mode == "install"


def test_nested_node_modules_in_lockfile_runs_npm_ci() -> None:
    dependencies = {"left-pad": "^1.3.0"}
    lock = _lock(
        {**ROOT, "dependencies": dependencies},
        **{
            "node_modules/left-pad": {"version": "1.3.0"},
            "packages/a/node_modules/right-pad": {"version": "1.0.0"},
        },
    )
    plan = plan_from_files(_manifest(dependencies=dependencies), lock)
    assert plan.mode == "install"
    assert "packages/a/node_modules/right-pad" in plan.reason
