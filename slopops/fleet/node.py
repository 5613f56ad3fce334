"""Release, roll back and inspect one node over an open SSH connection.

Layout under the node's ``app_dir`` (Capistrano style)::

    releases/<release-id>/     one unpacked release each
    current -> releases/<id>   switched atomically with rename(2)
    shared/                    node-specific files kept across releases
    .slopops/record.json       the release record (see slopops.fleet.records)
    .slopops/lock.json         present while a deploy or rollback runs
    .slopops/uploads/          tarballs while they are checked and unpacked

A deploy uploads the tarball, checks its sha256 on the node, unpacks it,
installs its dependencies (``npm ci --omit=dev``, node_modules hard-linked
from a kept release with the same package-lock.json, or nothing when the
lockfile lists none; see slopops.fleet.dependencies), switches ``current``,
reloads PM2 and polls the health URL from the node until it returns the new
release id. PM2 exits 0 even when the new release crashes at start, so the health
check after every reload decides the outcome. A failed check switches back
to the last known good release at once.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shlex
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from secrets import token_hex

from config.settings import FleetSettings
from slopops.errors import SlopopsError
from slopops.fleet.dependencies import (
    DependencyPlan,
    install_script,
    plan_dependencies,
    report_lines,
)
from slopops.fleet.errors import (
    CommandFailedError,
    CommandTimeoutError,
    NodeBusyError,
    NoKnownGoodReleaseError,
    ReleaseRecordError,
    TarballHashMismatchError,
)
from slopops.fleet.health import health_command
from slopops.fleet.records import LastDeploy, ReleaseRecord, plan_rollback
from slopops.fleet.release import Release
from slopops.fleet.reload import RELOAD_MARKER_PREFIX, reload_command
from slopops.fleet.report import (
    FORK_MODE_WARNING,
    PM2_NOT_RUNNING,
    Health,
    NodeOutcome,
)
from slopops.fleet.ssh import Checkpoint, CommandResult, SshConnection

logger = logging.getLogger(__name__)

# Exit status of the install script when the upload's sha256 differs (EX_DATAERR).
_HASH_MISMATCH_STATUS = 65
# Dependency step of the install script by plan mode, as logs and errors name it.
_INSTALL_STEPS = {
    "none": "install no dependencies",
    "skip": "skip npm ci",
    "reuse": "reuse node_modules or npm ci",
    "install": "npm ci",
}
# Exit status of the status command when no PM2 daemon runs for PM2_HOME.
_NO_DAEMON_STATUS = 66
# Start of the line that separates the reload's output from the health poll's.
_HEALTH_CHECKPOINT = "slopops: reload done, health check follows"


@dataclass(frozen=True)
class NodeOptions:
    """Release retention and health check timing, the same for every node."""

    keep_releases: int = 5
    health_timeout_seconds: float = 60.0
    health_interval_seconds: float = 0.25
    # Age in seconds after which a node's lock counts as left by a dead run.
    lock_stale_seconds: float = 1800.0

    @classmethod
    def from_fleet(cls, fleet: FleetSettings) -> NodeOptions:
        """Take the release options from the fleet settings."""
        # Maximum run time of a deploy: install, switch and check, the same
        # again to go back, and a prune, each at its timeout.
        check = fleet.command_timeout_seconds + fleet.health_timeout_seconds + 30
        longest = 2 * fleet.command_timeout_seconds + 2 * check
        return cls(
            keep_releases=fleet.keep_releases,
            health_timeout_seconds=fleet.health_timeout_seconds,
            lock_stale_seconds=longest,
        )


@dataclass(frozen=True)
class HealthResult:
    """A health check result: whether it passed, the release returned, detail."""

    healthy: bool
    release: str | None
    detail: str

    @property
    def health(self) -> Health:
        """Return the check as a report value."""
        return "healthy" if self.healthy else "unhealthy"


class NodeRelease:
    """Deploy, roll back and inspect the app on one connected node."""

    def __init__(self, connection: SshConnection, options: NodeOptions) -> None:
        self.connection = connection
        self.node = connection.node
        self.options = options
        self.app_dir = self.node.app_dir.rstrip("/") or "/"
        self.state_dir = posixpath.join(self.app_dir, ".slopops")
        self.record_path = posixpath.join(self.state_dir, "record.json")

    # -- deploy --------------------------------------------------------------

    def deploy(self, release: Release) -> NodeOutcome:
        """Install ``release``, switch to it, reload and check its health.

        A failed health check switches back to the last known good release
        and returns a failed outcome naming it. Errors before the switch
        (upload, hash, unpack) leave ``current`` as it was and are raised.

        Raises:
            NodeBusyError: Another deploy or rollback has the node's lock.
            TarballHashMismatchError: The uploaded bytes have another sha256.
            CommandFailedError: A command before the switch failed.
            NodeUnreachableError: The node stopped responding.
        """
        with self._lock("deploy", release.release_id):
            return self._deploy(release)

    def _deploy(self, release: Release) -> NodeOutcome:
        record = self.read_record()
        release_id = release.release_id
        record.last_deploy = LastDeploy(release_id, record.current)
        self.connection.makedirs(self._path("releases"))
        self.connection.makedirs(self._path(".slopops/uploads"))
        self.write_record(record)
        try:
            if not (record.current == release_id and self._exists(release_id)):
                self._install(release, self._reuse_candidates(record, release_id))
                record.mark_unpacked(release_id)
        except SlopopsError:
            record.last_deploy.outcome = "failed"
            self.write_record(record)
            raise
        # Recorded before the switch: a record that claims a switch which did
        # not happen only makes a rollback switch to the known good release.
        record.current = release_id
        record.last_deploy.switched = True
        self.write_record(record)
        return self._reload_and_confirm(record, release_id)

    def _reuse_candidates(self, record: ReleaseRecord, release_id: str) -> list[str]:
        """Return kept releases to take node_modules from, best first.

        Known good releases come first, newest first, then the others that
        were unpacked. Releases found bad are left out, in case their
        dependency tree is what broke them.
        """
        order = [*reversed(record.known_good), *reversed(record.unpacked)]
        candidates: list[str] = []
        for name in order:
            if name not in candidates and name != release_id and name not in record.bad:
                candidates.append(name)
        return [self._path("releases", name) for name in candidates]

    def _install(self, release: Release, candidates: list[str]) -> None:
        # Planned before the upload, so nothing is left on the node if the
        # plan raises.
        plan = plan_dependencies(release)
        upload = self._path(".slopops/uploads", f"{release.release_id}.tar.gz")
        self.connection.put(release.tarball, upload)
        result = self.connection.run(
            self._install_script(release, upload, plan, candidates),
            check=False,
            log_as=f"check sha256, unpack and {_INSTALL_STEPS[plan.mode]} of release "
            f"{release.release_id}",
        )
        for line in report_lines(result.stdout):
            logger.info(
                "node %s: release %s: dependencies: %s",
                self.node.name,
                release.release_id,
                line,
            )
        if result.exit_status == _HASH_MISMATCH_STATUS:
            raise TarballHashMismatchError(
                self.node.name,
                release.release_id,
                release.sha256,
                result.stdout.strip(),
            )
        if result.exit_status != 0:
            # check=False skips the connection's redaction of stderr.
            raise CommandFailedError(
                self.node.name,
                result.command,
                result.exit_status,
                self.connection.redact(result.stderr),
            )

    def _install_script(
        self,
        release: Release,
        upload: str,
        plan: DependencyPlan,
        candidates: list[str],
    ) -> str:
        """Return the shell script that checks, unpacks and installs a release.

        One script, so the node pays one SSH round trip. It exits with
        ``_HASH_MISMATCH_STATUS`` and prints the actual hash on a mismatch.
        Its EXIT trap removes the upload and any partial directory, on success
        and on failure, but not if the shell is killed.
        """
        partial = self._q(posixpath.join("releases", f".{release.release_id}.partial"))
        final = self._q(posixpath.join("releases", release.release_id))
        upload_q = shlex.quote(upload)
        cleanup = shlex.quote(f"rm -rf {partial} {upload_q}")
        return (
            f"set -e; trap {cleanup} EXIT; "
            f"actual=$(sha256sum {upload_q} | cut -d' ' -f1); "
            f'if [ "$actual" != {shlex.quote(release.sha256)} ]; then '
            f'echo "$actual"; exit {_HASH_MISMATCH_STATUS}; fi; '
            f"rm -rf {partial}; mkdir -p {partial}; tar -xzf {upload_q} -C {partial}; "
            f"{install_script(plan, partial, candidates)}; "
            f"rm -rf {final}; mv {partial} {final}"
        )

    def _switch_and_check(self, release_id: str) -> tuple[list[str], HealthResult]:
        """Point ``current`` at a release, reload PM2 and poll its health.

        Returns the fork mode warnings and the health result. A switch or
        reload that fails or hangs gives an unhealthy result. The three steps
        run as one SSH command, because sshd starts every command in the
        user's shell, which can read start-up files such as ``~/.bashrc``.
        The reload keeps the fleet's command timeout, and the poll after the
        checkpoint line gets the health timeout plus 30 s.
        """
        link = self._q("current")
        temporary = self._q(".slopops/current.tmp")
        target = shlex.quote(posixpath.join("releases", release_id))
        ecosystem = posixpath.join(self.app_dir, "current", self.node.ecosystem_file)
        reload = reload_command(self._pm2_home_export(), self.node.pm2_bin, ecosystem)
        timeout = self.options.health_timeout_seconds
        poll = self._health_command(release_id, timeout)
        # A random part, so no output of the reload can pass for the line.
        line = f"{_HEALTH_CHECKPOINT} {token_hex(8)}"
        marker = shlex.quote(line)
        checkpoint = Checkpoint(line, timeout + 30, self._health_shown(release_id))
        try:
            result = self.connection.run(
                f"ln -sfn {target} {temporary} && mv -Tf {temporary} {link} && "
                f"{{ {reload}; }} && {{ echo {marker}; echo {marker} >&2; {poll}; }}",
                check=False,
                log_as=f"switch to release {release_id} and reload PM2",
                checkpoint=checkpoint,
            )
        except CommandTimeoutError as exc:
            return [], HealthResult(False, None, str(exc))
        reload_out, found, health_out = result.stdout.partition(f"{line}\n")
        reload_err, _, health_err = result.stderr.partition(f"{line}\n")
        if not found:
            error = CommandFailedError(
                self.node.name,
                result.command,
                result.exit_status,
                self.connection.redact(reload_err),
            )
            return [], HealthResult(False, None, str(error))
        for message in reload_err.splitlines():
            if message.startswith(RELOAD_MARKER_PREFIX):
                logger.info("node %s: %s", self.node.name, message)
        warnings = self._fork_mode_warnings(reload_out)
        return warnings, self._health_result(
            release_id, result.exit_status, health_out, health_err
        )

    def _reload_and_confirm(
        self, record: ReleaseRecord, release_id: str
    ) -> NodeOutcome:
        warnings, result = self._switch_and_check(release_id)
        if result.healthy:
            record.mark_healthy(release_id)
            assert record.last_deploy is not None
            record.last_deploy.outcome = "healthy"
            self.write_record(record)
            self.prune(record)
            return NodeOutcome(
                self.node.name,
                "deploy",
                "deployed",
                release_id,
                "healthy",
                switched=True,
                warnings=warnings,
            )
        logger.warning(
            "node %s: release %s failed its health check: %s",
            self.node.name,
            release_id,
            result.detail,
        )
        return self._recover(record, release_id, result.detail, warnings)

    def _recover(
        self, record: ReleaseRecord, release_id: str, detail: str, warnings: list[str]
    ) -> NodeOutcome:
        record.mark_bad(release_id)
        assert record.last_deploy is not None
        target = record.last_known_good
        error = f"release {release_id!r} failed its health check: {detail}"
        if target is None:
            record.last_deploy.outcome = "failed"
            self.write_record(record)
            return NodeOutcome(
                self.node.name,
                "deploy",
                "failed",
                release_id,
                "unhealthy",
                switched=True,
                error=f"{error}; no known good release to go back to",
                warnings=warnings,
            )
        record.last_deploy.outcome = "rolled_back"
        back = self._switch_back(record, target)
        return NodeOutcome(
            self.node.name,
            "deploy",
            "failed",
            target,
            back.health,
            switched=True,
            error=error,
            detail=f"went back to {target!r}: {back.detail}",
            warnings=warnings,
        )

    def _switch_back(self, record: ReleaseRecord, target: str) -> HealthResult:
        record.current = target
        self.write_record(record)
        return self._switch_and_check(target)[1]

    # -- rollback ------------------------------------------------------------

    def rollback(self) -> NodeOutcome:
        """Switch back to the last known good release and check its health.

        A rollback after a deploy that never switched, or one already rolled
        back, changes nothing and returns an ``unchanged`` outcome.

        Raises:
            NoKnownGoodReleaseError: No known good release other than the
                current one exists.
            NodeBusyError: Another deploy or rollback has the node's lock.
        """
        with self._lock("rollback", None):
            return self._rollback()

    def _rollback(self) -> NodeOutcome:
        record = self.read_record()
        plan = plan_rollback(record)
        if plan is None:
            raise NoKnownGoodReleaseError(self.node.name, record.current)
        if plan.target is None:
            logger.info("node %s: rollback is a no-op: %s", self.node.name, plan.reason)
            return NodeOutcome(
                self.node.name,
                "rollback",
                "unchanged",
                record.current,
                self.probe().health,
                detail=plan.reason,
            )
        if not self._exists(plan.target):
            raise NoKnownGoodReleaseError(self.node.name, record.current)
        if plan.mark_bad:
            record.mark_bad(plan.mark_bad)
        if record.last_deploy is not None:
            record.last_deploy.outcome = "rolled_back"
        logger.info(
            "node %s: rolling back to %s (%s)", self.node.name, plan.target, plan.reason
        )
        result = self._switch_back(record, plan.target)
        return NodeOutcome(
            self.node.name,
            "rollback",
            "rolled_back" if result.healthy else "failed",
            plan.target,
            result.health,
            switched=True,
            error=None if result.healthy else result.detail,
            detail=plan.reason,
        )

    # -- status --------------------------------------------------------------

    def status(self) -> NodeOutcome:
        """Return the node's current release, its health and the last known good."""
        record = self.read_record()
        result = self.probe()
        if record.last_known_good:
            detail = f"last known good {record.last_known_good!r}"
        else:
            detail = "last known good: none recorded"
        if result.release and result.release != record.current:
            detail += f"; app returns release {result.release!r}"
        return NodeOutcome(
            self.node.name,
            "status",
            "reported",
            record.current,
            result.health,
            detail=detail,
            warnings=self._status_warnings(),
        )

    def _status_warnings(self) -> list[str]:
        # Any pm2 command, jlist included, starts a daemon when none runs, so a
        # read-only status first checks the daemon's PID file and process.
        # NOTE: a daemon that exits between the check and jlist is started again.
        result = self._run(
            f'{self._pm2_home_export()}; pid=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) && '
            f'kill -0 "$pid" 2>/dev/null || exit {_NO_DAEMON_STATUS}; '
            f"{self._pm2_prefix()} jlist",
            check=False,
        )
        if result.exit_status == _NO_DAEMON_STATUS:
            logger.warning("node %s: %s", self.node.name, PM2_NOT_RUNNING)
            return [PM2_NOT_RUNNING]
        return (
            self._fork_mode_warnings(result.stdout) if result.exit_status == 0 else []
        )

    # -- PM2 and health ------------------------------------------------------

    def probe(self) -> HealthResult:
        """Check the health URL once, accepting any release."""
        return self._health("", 0)

    def _health(self, expected: str, timeout_seconds: float) -> HealthResult:
        result = self.connection.run(
            self._health_command(expected, timeout_seconds),
            check=False,
            timeout_seconds=timeout_seconds + 30,
            log_as=self._health_shown(expected),
        )
        return self._health_result(
            expected, result.exit_status, result.stdout, result.stderr
        )

    def _health_command(self, expected: str, timeout_seconds: float) -> str:
        return health_command(
            self.node.health_url,
            expected,
            timeout_seconds,
            self.options.health_interval_seconds,
        )

    def _health_shown(self, expected: str) -> str:
        return f"health check of {self.node.health_url} for {expected or 'any'}"

    def _health_result(
        self, expected: str, exit_status: int, stdout: str, stderr: str
    ) -> HealthResult:
        """Turn the health poll's exit status and output into a result."""
        stdout = self.connection.redact(stdout)
        stderr = self.connection.redact(stderr)
        if exit_status != 0:
            return HealthResult(False, None, stderr.strip()[-300:] or "failed")
        try:
            release = str(json.loads(stdout).get("release"))
        except (ValueError, AttributeError):
            release = None
        body = stdout.strip()[:300]
        # The curl poll accepts the id under any "release" key, nested ones
        # included, so the top-level value is checked here.
        if expected and release != expected:
            return HealthResult(False, release, f"release {release!r} answered: {body}")
        return HealthResult(True, release, body)

    def _fork_mode_warnings(self, jlist_output: str) -> list[str]:
        names = sorted(
            {
                str(process.get("name"))
                for process in _parse_jlist(jlist_output)
                if process.get("pm2_env", {}).get("exec_mode") == "fork_mode"
            }
        )
        if not names:
            return []
        logger.warning("node %s: %s (%s)", self.node.name, FORK_MODE_WARNING, names)
        return [f"{', '.join(names)}: {FORK_MODE_WARNING}"]

    def _pm2_prefix(self) -> str:
        """Return ``export PM2_HOME=...; pm2`` for a command on the node."""
        return f"{self._pm2_home_export()}; {shlex.quote(self.node.pm2_bin)}"

    def _pm2_home_export(self) -> str:
        if self.node.pm2_home:
            return f"export PM2_HOME={shlex.quote(self.node.pm2_home)}"
        # PM2's own default, set explicitly so that no command guesses.
        return 'export PM2_HOME="${PM2_HOME:-$HOME/.pm2}"'

    # -- records and pruning -------------------------------------------------

    def read_record(self) -> ReleaseRecord:
        """Read the node's release record; an absent file is an empty record."""
        text = self.connection.read_text(self.record_path)
        if text is None:
            return ReleaseRecord()
        try:
            return ReleaseRecord.from_json(text)
        except (ValueError, TypeError) as exc:
            raise ReleaseRecordError(
                self.node.name, self.record_path, str(exc)
            ) from exc

    def write_record(self, record: ReleaseRecord) -> None:
        """Write the node's release record atomically."""
        self.connection.write_text(self.record_path, record.to_json())

    def prune(self, record: ReleaseRecord) -> list[str]:
        """Delete releases beyond the newest ``keep_releases``; return their ids.

        The current release and the two newest known good ones are always
        kept, so both rollback targets survive.
        """
        listing = self.connection.listdir(self._path("releases"))
        present = [name for name in listing if not name.startswith(".")]
        order = {name: index for index, name in enumerate(record.unpacked)}
        present.sort(key=lambda name: order.get(name, -1))
        keep = set(present[-self.options.keep_releases :])
        keep |= record.protected() | set(record.known_good[-2:])
        doomed = [name for name in present if name not in keep]
        if doomed:
            paths = " ".join(
                self._q(posixpath.join("releases", name)) for name in doomed
            )
            self._run(f"rm -rf {paths}")
            record.unpacked = [name for name in record.unpacked if name not in doomed]
            self.write_record(record)
            logger.info("node %s: pruned releases %s", self.node.name, doomed)
        return doomed

    # -- lock ----------------------------------------------------------------

    @contextmanager
    def _lock(self, action: str, release_id: str | None) -> Iterator[None]:
        """Hold ``.slopops/lock.json`` on the node for one deploy or rollback.

        Two runs on one node would prune each other's releases and overwrite
        each other's record. A lock older than ``lock_stale_seconds`` was left
        by a run that died, and is taken over with a warning.
        """
        path = posixpath.join(self.state_dir, "lock.json")
        since = time.time()
        holder = {
            "action": action,
            "release": release_id,
            "deployer": f"{socket.gethostname()} pid {os.getpid()}",
            "since": since,
        }
        self.connection.makedirs(self.state_dir)
        if not self.connection.create_exclusive(path, json.dumps(holder)):
            found = self._read_lock(path)
            age = since - float(found.get("since") or 0)
            described = _describe_lock(found, age)
            if age < self.options.lock_stale_seconds:
                raise NodeBusyError(self.node.name, path, described)
            # NOTE: two runs that find the same stale lock both take it over.
            logger.warning(
                "node %s: taking over the stale lock of %s", self.node.name, described
            )
            self.connection.write_text(path, json.dumps(holder))
        try:
            yield
        finally:
            try:
                self.connection.remove(path)
            except SlopopsError as exc:
                logger.error(
                    "node %s: lock %s not removed: %s", self.node.name, path, exc
                )

    def _read_lock(self, path: str) -> dict:
        text = self.connection.read_text(path)
        try:
            found = json.loads(text or "{}")
        except ValueError:
            found = {}
        return found if isinstance(found, dict) else {}

    # -- helpers -------------------------------------------------------------

    def _exists(self, release_id: str) -> bool:
        return self.connection.is_dir(self._path("releases", release_id))

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.app_dir, *parts)

    def _q(self, relative: str) -> str:
        return shlex.quote(self._path(relative))

    def _run(self, command: str, check: bool = True) -> CommandResult:
        return self.connection.run(command, check=check)


def _describe_lock(found: dict, age: float) -> str:
    """Return who owns a lock, as errors and logs name it."""
    action = found.get("action") or "a run"
    release = f" of release {found['release']!r}" if found.get("release") else ""
    deployer = found.get("deployer") or "an unknown deployer"
    return f"{action}{release} by {deployer}, {age:.0f} s ago"


def _parse_jlist(output: str) -> list[dict]:
    # pm2 may print a daemon start-up line before the JSON array.
    start = output.find("[")
    if start < 0:
        return []
    try:
        data = json.loads(output[start:])
    except ValueError:
        return []
    return data if isinstance(data, list) else []
