"""One node with real sshd and PM2: deploy, health, rollback, pruning."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from config.settings import NodeSettings
from slopops.fleet import Fleet
from slopops.fleet.errors import (
    CommandFailedError,
    NoKnownGoodReleaseError,
    TarballHashMismatchError,
)
from slopops.fleet.node import NodeRelease
from slopops.fleet.release import Release, build_sample_release
from slopops.fleet.reload import API_MARKER, CLI_MARKER
from slopops.fleet.report import PM2_NOT_RUNNING
from slopops.fleet.ssh import SshConnector
from slopops.stack.pm2 import daemon_pid
from tests.fixtures.fleet import FleetLab

UNPRIVILEGED_USER = "slopops-node"


def _health(lab: FleetLab, index: int = 0) -> str:
    node = lab.nodes[index].settings
    return str(httpx.get(node.health_url, timeout=5).json()["release"])


def test_deploy_switches_and_records(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slopops.fleet.node")
    node = fleet_lab.add_node()
    fleet = Fleet(fleet_lab.fleet([node]))
    outcome = fleet.deploy_node(node, fleet_lab.release("A"))
    assert outcome.ok, outcome.error
    assert outcome.status == "deployed"
    assert outcome.health == "healthy"
    assert outcome.warnings == []
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"
    record = fleet_lab.record(node)
    assert record["known_good"] == ["A"]
    assert record["last_deploy"]["outcome"] == "healthy"
    assert not list((Path(node.app_dir) / ".slopops" / "uploads").iterdir())
    # tools/node_modules/.bin/pm2 leads to the PM2 package, so its API reloads.
    assert f"node {node.name}: {API_MARKER}" in caplog.messages


def test_deploy_and_rollback_command_count(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    # sshd starts each command in the user's shell, which can read start-up
    # files, so a deploy runs two and a rollback one. Directories and records
    # go over SFTP, which starts no shell with internal-sftp.
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    caplog.set_level(logging.INFO, logger="slopops.fleet.ssh")
    caplog.clear()
    assert fleet.deploy_node(node, fleet_lab.release("B")).ok
    prefix = f"node {node.name}: run "
    deploy_runs = [m for m in caplog.messages if m.startswith(prefix)]
    assert deploy_runs == [
        f"{prefix}check sha256, unpack and skip npm ci of release B",
        f"{prefix}switch to release B and reload PM2",
    ]
    caplog.clear()
    assert fleet.rollback_node(node).status == "rolled_back"
    rollback_runs = [m for m in caplog.messages if m.startswith(prefix)]
    assert rollback_runs == [f"{prefix}switch to release A and reload PM2"]
    assert _health(fleet_lab) == "A"


def test_npm_ci_failure_leaves_node_unchanged(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    # package.json declares a dependency that the lockfile does not list.
    out_of_sync = '{"name": "slop-agent-sample", "version": "1.0.0", '
    out_of_sync += '"dependencies": {"left-pad": "1.3.0"}}'
    release = build_sample_release(
        fleet_lab.base_dir / "releases",
        "B",
        replace_files={"package.json": out_of_sync},
    )
    outcome = fleet.deploy_node(node, release)
    assert outcome.status == "failed"
    assert "npm ci" in (outcome.error or "")
    assert fleet_lab.current(node) == "A"
    assert sorted(os.listdir(Path(node.app_dir) / "releases")) == ["A"]
    assert _health(fleet_lab) == "A"


def test_crashing_release_is_rolled_back(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(listen_timeout_ms=2000)
    fleet = Fleet(fleet_lab.fleet([node], health_timeout_seconds=6))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    outcome = fleet.deploy_node(node, fleet_lab.release("B", crash_at_start=True))
    assert not outcome.ok
    assert outcome.status == "failed"
    assert "release 'B' failed its health check" in (outcome.error or "")
    assert outcome.release == "A"
    assert outcome.health == "healthy"
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"
    assert fleet_lab.record(node)["bad"] == ["B"]


def test_first_release_crashing_has_nowhere_to_go(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(listen_timeout_ms=1000)
    fleet = Fleet(fleet_lab.fleet([node], health_timeout_seconds=3))
    outcome = fleet.deploy_node(node, fleet_lab.release("A", crash_at_start=True))
    assert outcome.status == "failed"
    assert "no known good release to go back to" in (outcome.error or "")


def test_tarball_hash_mismatch_leaves_node_unchanged(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    good = fleet_lab.release("B")
    tampered = Release(good.release_id, good.tarball, "0" * 64)
    with fleet.connector.connect(node) as connection:
        with pytest.raises(TarballHashMismatchError, match="expected '0000") as info:
            NodeRelease(connection, fleet.options).deploy(tampered)
    assert info.value.actual == good.sha256
    assert fleet_lab.current(node) == "A"
    assert not (Path(node.app_dir) / "releases" / "B").exists()
    assert _health(fleet_lab) == "A"
    record = fleet_lab.record(node)
    assert record["last_deploy"] == {
        "release": "B",
        "previous": "A",
        "switched": False,
        "outcome": "failed",
    }
    # A rollback after a deploy that never switched changes nothing.
    rollback = fleet.rollback_node(node)
    assert rollback.status == "unchanged"
    assert "never switched" in (rollback.detail or "")
    assert fleet_lab.current(node) == "A"


def test_non_gzip_tarball_fails_cleanly(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    settings = fleet_lab.fleet([node])
    assert Fleet(settings).deploy_node(node, fleet_lab.release("A")).ok
    tarball = fleet_lab.base_dir / "releases" / "broken.tar.gz"
    tarball.write_bytes(b"this is not gzip\n" * 10)
    broken = Release.from_tarball(tarball)
    # gzip's message on stderr is treated as a secret, to check the redaction.
    connector = SshConnector(settings, secrets=["not in gzip format"])
    with connector.connect(node) as connection:
        with pytest.raises(CommandFailedError) as info:
            NodeRelease(connection, Fleet(settings).options).deploy(broken)
    assert info.value.exit_status != 0
    assert "***" in info.value.stderr
    assert "not in gzip format" not in info.value.stderr
    assert fleet_lab.record(node)["last_deploy"]["outcome"] == "failed"
    assert os.listdir(Path(node.app_dir) / ".slopops" / "uploads") == []
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"


def test_rollback_goes_to_last_known_good(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    fleet = Fleet(fleet_lab.fleet([node]))
    for release_id in ("A", "B"):
        assert fleet.deploy_node(node, fleet_lab.release(release_id)).ok
    first = fleet.rollback_node(node)
    assert first.status == "rolled_back"
    assert first.release == "A"
    assert _health(fleet_lab) == "A"
    assert fleet.deploy_node(node, fleet_lab.release("C")).ok
    second = fleet.rollback_node(node)
    # "current minus one" would be B; B was found bad, so A it is.
    assert second.release == "A"
    assert second.health == "healthy"
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"
    record = fleet_lab.record(node)
    assert record["bad"] == ["B", "C"]
    assert record["known_good"] == ["A"]
    third = fleet.rollback_node(node)
    assert third.status == "unchanged"


def test_rollback_without_known_good_is_an_error(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    with fleet.connector.connect(node) as connection:
        with pytest.raises(NoKnownGoodReleaseError, match="no known good release"):
            NodeRelease(connection, fleet.options).rollback()
    outcome = fleet.rollback_node(node)
    assert outcome.status == "failed"
    assert fleet_lab.current(node) == "A"


def test_prune_keeps_current_and_known_good(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node], keep_releases=2))
    for release_id in ("A", "B", "C", "D"):
        assert fleet.deploy_node(node, fleet_lab.release(release_id)).ok
    releases = sorted(os.listdir(Path(node.app_dir) / "releases"))
    assert releases == ["C", "D"]
    assert fleet.rollback_node(node).release == "C"
    assert fleet.deploy_node(node, fleet_lab.release("E")).ok
    # D is bad now; C is the previous known good and must survive.
    releases = sorted(os.listdir(Path(node.app_dir) / "releases"))
    assert "C" in releases
    assert "E" in releases


def test_fork_mode_gets_a_warning(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(exec_mode="fork", instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    outcome = fleet.deploy_node(node, fleet_lab.release("A"))
    assert outcome.ok
    assert len(outcome.warnings) == 1
    assert "fork mode" in outcome.warnings[0]


def test_status_reports_release_and_health(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    outcome = fleet.status_node(node)
    assert outcome.status == "reported"
    assert outcome.release == "A"
    assert outcome.health == "healthy"
    assert outcome.detail == "last known good 'A'"
    assert outcome.warnings == []


def test_status_starts_no_pm2_daemon(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    outcome = fleet.status_node(node)
    assert outcome.status == "reported"
    assert outcome.health == "unhealthy"
    assert outcome.warnings == [PM2_NOT_RUNNING]
    assert outcome.detail == "last known good: none recorded"
    assert daemon_pid(Path(node.pm2_home or "")) is None
    assert not (Path(node.pm2_home or "") / "pm2.pid").exists()


@pytest.fixture
def unprivileged_user() -> Iterator[str]:
    """A login user without root's rights, removed afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd")
    created = False
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/bin/sh", UNPRIVILEGED_USER],
            check=True,
        )
        created = True
    # A locked password ('!') makes sshd refuse the login when UsePAM is off.
    subprocess.run(["usermod", "-p", "*", UNPRIVILEGED_USER], check=True)
    try:
        yield UNPRIVILEGED_USER
    finally:
        if created:
            subprocess.run(["userdel", UNPRIVILEGED_USER], check=False)


def test_app_dir_without_write_permission(
    fleet_lab: FleetLab, unprivileged_user: str
) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    # The same app directory, owned by root, reached as an unprivileged user.
    pm2_home = fleet_lab.base_dir / "unprivileged-pm2"
    pm2_home.mkdir()
    shutil.chown(pm2_home, user=unprivileged_user)
    Path(node.app_dir).chmod(0o755)
    (Path(node.app_dir) / ".slopops").chmod(0o755)
    limited = node.model_copy(
        update={"user": unprivileged_user, "pm2_home": str(pm2_home)}
    )
    outcome = Fleet(fleet_lab.fleet([limited])).deploy_node(
        limited, fleet_lab.release("B")
    )
    assert outcome.status == "failed"
    assert "Permission denied" in (outcome.error or "")
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"
    assert fleet_lab.record(node)["current"] == "A"


def test_other_users_keep_their_home(
    fleet_lab: FleetLab, unprivileged_user: str
) -> None:
    # The node's own home, owned by root, goes to root's sessions only.
    node = fleet_lab.add_node()
    limited = node.model_copy(update={"user": unprivileged_user})
    with SshConnector(fleet_lab.fleet([limited])).connect(limited) as connection:
        home = connection.run('printf %s "$HOME"').stdout
    assert home == pwd.getpwnam(unprivileged_user).pw_dir


def _pm2_on_release_b(
    lab: FleetLab, node: NodeSettings, name: str, pm2_command: str, action: str
) -> str:
    """Write a pm2 wrapper that runs ``action`` for ``pm2_command`` on release B.

    Any other command, or any other release, runs the real pm2.
    """
    wrapper = lab.base_dir / name
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$(readlink {node.app_dir}/current)" in\n'
        f'  releases/B) [ "$1" = {pm2_command} ] && {{ {action}; }} ;;\n'
        "esac\n"
        f'exec {node.pm2_bin} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def _hanging_cli_pm2(lab: FleetLab, node: NodeSettings) -> str:
    """Return a pm2 wrapper that hangs on reloading release B, then exits.

    A wrapper script is no PM2 package, so reloads use the CLI.
    """
    return _pm2_on_release_b(
        lab, node, "hanging-pm2", "startOrReload", "sleep 8; exit 1"
    )


def _hanging_api_pm2(lab: FleetLab, node: NodeSettings) -> str:
    """Return the pm2 of a PM2 package whose connect() hangs for release B.

    It exits after 8 s, so nothing outlives the test. Other releases get the
    real package, through its API.
    """
    real_package = Path(os.path.realpath(node.pm2_bin)).parent.parent
    package = lab.base_dir / "hanging-pm2-package"
    (package / "bin").mkdir(parents=True)
    (package / "lib").mkdir()
    (package / "lib" / "API.js").write_text("")
    current = json.dumps(f"{node.app_dir}/current")
    (package / "index.js").write_text(
        "const fs = require('fs');\n"
        f"if (fs.readlinkSync({current}) === 'releases/B') {{\n"
        "  setTimeout(() => process.exit(1), 8000);\n"
        "  module.exports = { connect() {} };\n"
        "} else {\n"
        f"  module.exports = require({json.dumps(str(real_package))});\n"
        "}\n"
    )
    pm2_bin = package / "bin" / "pm2"
    pm2_bin.write_text("#!/bin/sh\nexit 1\n")
    pm2_bin.chmod(0o755)
    return str(pm2_bin)


@pytest.mark.parametrize(
    ("make_pm2", "marker"),
    [(_hanging_cli_pm2, CLI_MARKER), (_hanging_api_pm2, API_MARKER)],
    ids=["cli", "api"],
)
def test_hanging_reload_goes_back(
    fleet_lab: FleetLab,
    caplog: pytest.LogCaptureFixture,
    make_pm2: Callable[[FleetLab, NodeSettings], str],
    marker: str,
) -> None:
    caplog.set_level(logging.INFO, logger="slopops.fleet.node")
    node = fleet_lab.add_node(instances=1)
    assert Fleet(fleet_lab.fleet([node])).deploy_node(node, fleet_lab.release("A")).ok

    hanging = node.model_copy(update={"pm2_bin": make_pm2(fleet_lab, node)})
    fleet = Fleet(fleet_lab.fleet([hanging], command_timeout_seconds=4))
    outcome = fleet.deploy_node(hanging, fleet_lab.release("B"))
    assert outcome.status == "failed"
    assert "did not finish in 4 s" in (outcome.error or "")
    assert outcome.release == "A"
    assert outcome.health == "healthy"
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"

    # The reload back to A took the same path as the one that hung.
    assert f"node {node.name}: {marker}" in caplog.messages


def _release_with_helper(lab: FleetLab, release_id: str, helpers: list[str]) -> Release:
    """Build a sample release that depends on local packages under vendor/.

    ``file:`` dependencies install without a registry, so npm ci works offline.
    """
    dependencies = {name: f"file:vendor/{name}" for name in helpers}
    root = {"name": "slop-agent-sample", "version": "1.0.0"}
    packages: dict[str, object] = {"": {**root, "dependencies": dependencies}}
    files: dict[str, str] = {
        "package.json": json.dumps({**root, "dependencies": dependencies}),
    }
    for name in helpers:
        packages[f"node_modules/{name}"] = {"resolved": f"vendor/{name}", "link": True}
        packages[f"vendor/{name}"] = {"version": "1.0.0"}
        files[f"vendor/{name}/package.json"] = json.dumps(
            {"name": name, "version": "1.0.0", "main": "index.js"}
        )
        files[f"vendor/{name}/index.js"] = "module.exports = 1;\n"
    lock = {
        "name": "slop-agent-sample",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": packages,
    }
    files["package-lock.json"] = json.dumps(lock, indent=2)
    return build_sample_release(
        lab.base_dir / "releases", release_id, replace_files=files
    )


def _dependency_logs(caplog: pytest.LogCaptureFixture, release_id: str) -> list[str]:
    marker = f"release {release_id}: dependencies: "
    return [
        record.getMessage().split(marker, 1)[1]
        for record in caplog.records
        if marker in record.getMessage()
    ]


def _hidden_lockfile(node_dir: Path, release_id: str) -> os.stat_result:
    """Stat npm's node_modules/.package-lock.json, which npm ci writes anew."""
    return (
        node_dir / "releases" / release_id / "node_modules" / ".package-lock.json"
    ).stat()


def test_dependencies_skipped_reused_or_installed(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slopops.fleet.node")
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node], keep_releases=5))
    app_dir = Path(node.app_dir)

    # The sample app's lockfile lists nothing: no npm ci, no node_modules.
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    assert _dependency_logs(caplog, "A") == [
        "npm ci skipped, package-lock.json lists no dependencies"
    ]
    assert not (app_dir / "releases" / "A" / "node_modules").exists()

    # First release with dependencies: no kept release to take them from.
    assert fleet.deploy_node(node, _release_with_helper(fleet_lab, "B", ["one"])).ok
    logs = _dependency_logs(caplog, "B")
    assert logs[0] == "no kept release has an identical package-lock.json"
    assert logs[1].startswith("npm ci --omit=dev")
    assert (app_dir / "releases" / "B" / "node_modules" / "one").is_symlink()
    installed = _hidden_lockfile(app_dir, "B")

    # Same lockfile: node_modules is hard-linked from B, npm ci does not run.
    assert fleet.deploy_node(node, _release_with_helper(fleet_lab, "C", ["one"])).ok
    assert _dependency_logs(caplog, "C") == [
        "node_modules hard-linked from release B, identical package-lock.json"
    ]
    reused = _hidden_lockfile(app_dir, "C")
    assert reused.st_ino == installed.st_ino
    assert reused.st_nlink == 2
    assert (app_dir / "releases" / "C" / "node_modules" / "one").is_symlink()
    assert _health(fleet_lab) == "C"

    # Changed dependencies: npm ci runs and writes its own tree.
    changed = _release_with_helper(fleet_lab, "D", ["one", "two"])
    assert fleet.deploy_node(node, changed).ok
    logs = _dependency_logs(caplog, "D")
    assert logs[0] == "no kept release has an identical package-lock.json"
    assert logs[1].startswith("npm ci --omit=dev")
    assert _hidden_lockfile(app_dir, "D").st_ino != installed.st_ino
    assert (app_dir / "releases" / "D" / "node_modules" / "two").is_symlink()
    assert _health(fleet_lab) == "D"

    # Back to B's lockfile: C and B are kept and known good, C is newer.
    assert fleet.deploy_node(node, _release_with_helper(fleet_lab, "E", ["one"])).ok
    assert _dependency_logs(caplog, "E") == [
        "node_modules hard-linked from release C, identical package-lock.json"
    ]
    assert _hidden_lockfile(app_dir, "E").st_ino == installed.st_ino


def test_bad_release_is_not_reused(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slopops.fleet.node")
    node = fleet_lab.add_node(instances=1, listen_timeout_ms=1000)
    fleet = Fleet(fleet_lab.fleet([node], health_timeout_seconds=4))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    crashing = _release_with_helper(fleet_lab, "B", ["one"])
    crashing = build_sample_release(
        fleet_lab.base_dir / "crashing",
        "B",
        crash_at_start=True,
        replace_files=_release_files(crashing),
    )
    assert not fleet.deploy_node(node, crashing).ok
    assert fleet_lab.record(node)["bad"] == ["B"]
    assert fleet.deploy_node(node, _release_with_helper(fleet_lab, "C", ["one"])).ok
    logs = _dependency_logs(caplog, "C")
    assert logs[0] == "no kept release has an identical package-lock.json"
    assert logs[1].startswith("npm ci --omit=dev")


def _release_files(release: Release) -> dict[str, str]:
    """Return the files of a release tarball except release.json."""
    with tarfile.open(release.tarball, "r:gz") as archive:
        files = {}
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            if handle is not None and member.name != "release.json":
                files[member.name] = handle.read().decode()
    return files


@pytest.mark.parametrize(
    ("pm2_command", "action", "expected"),
    [
        (
            "startOrReload",
            "echo 'pm2 error: ecosystem rejected' >&2; exit 7",
            [
                "switch to release B and reload PM2",
                "exited with 7",
                "pm2 error: ecosystem rejected",
            ],
        ),
        # Output that copies the checkpoint line's fixed part, then a failure.
        (
            "jlist",
            "echo 'slopops: reload done, health check follows'; "
            "echo 'pm2 jlist failed: daemon gone' >&2; exit 5",
            ["exited with 5", "pm2 jlist failed: daemon gone"],
        ),
    ],
    ids=["failed-reload", "fake-checkpoint"],
)
def test_failed_reload_error_names_it(
    fleet_lab: FleetLab, pm2_command: str, action: str, expected: list[str]
) -> None:
    node = fleet_lab.add_node(instances=1)
    assert Fleet(fleet_lab.fleet([node])).deploy_node(node, fleet_lab.release("A")).ok

    wrapper = _pm2_on_release_b(fleet_lab, node, "failing-pm2", pm2_command, action)
    failing = node.model_copy(update={"pm2_bin": wrapper})
    outcome = Fleet(fleet_lab.fleet([failing])).deploy_node(
        failing, fleet_lab.release("B")
    )
    assert outcome.status == "failed"
    for fragment in expected:
        assert fragment in (outcome.error or "")
    assert outcome.release == "A"
    assert outcome.health == "healthy"
    assert fleet_lab.current(node) == "A"
    assert _health(fleet_lab) == "A"


def test_health_detail_is_redacted(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(listen_timeout_ms=1000)
    settings = fleet_lab.fleet([node], health_timeout_seconds=2)
    fleet = Fleet(settings)
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    # curl's text for a refused connection serves as the secret.
    secret = "Failed to connect"
    connector = SshConnector(settings, secrets=[secret])
    with connector.connect(node) as connection:
        outcome = NodeRelease(connection, fleet.options).deploy(
            fleet_lab.release("B", crash_at_start=True)
        )
    assert outcome.status == "failed"
    assert "***" in (outcome.error or "")
    assert secret not in (outcome.error or "")


def test_busy_node_rejects_second_run(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.deploy_node(node, fleet_lab.release("A")).ok
    lock = Path(node.app_dir) / ".slopops" / "lock.json"
    assert not lock.exists()

    # Another deployer's run, started a minute ago, has the node's lock.
    holder = {"action": "deploy", "release": "B", "deployer": "ops-1 pid 7"}
    lock.write_text(json.dumps({**holder, "since": time.time() - 60}))
    for outcome in (
        fleet.deploy_node(node, fleet_lab.release("C")),
        fleet.rollback_node(node),
    ):
        assert outcome.status == "failed"
        error = outcome.error or ""
        assert "is busy: deploy of release 'B' by ops-1 pid 7, 60 s ago" in error
        assert f"delete {str(lock)!r}" in error
    assert fleet_lab.current(node) == "A"
    assert sorted(os.listdir(Path(node.app_dir) / "releases")) == ["A"]
    assert lock.exists()

    # A lock older than the longest run is taken over, and removed after.
    lock.write_text(json.dumps({**holder, "since": time.time() - 3 * 3600}))
    assert fleet.deploy_node(node, fleet_lab.release("C")).ok
    assert fleet_lab.current(node) == "C"
    assert not lock.exists()
