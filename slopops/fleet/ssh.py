"""SSH connections to agent nodes, with paramiko.

Host keys are checked against known_hosts (or the node's ``host_key``) with
``RejectPolicy``: an unknown or changed key is an error and is never added.
Authentication uses the fleet's private key only, with no agent and no key
search. Every connect and every command has a timeout, and a connector caps
how many connections are open at once.

sshd ignores the variables paramiko sends unless it has ``AcceptEnv``, so
:meth:`SshConnection.run` exports them inside the command itself.
"""

from __future__ import annotations

import base64
import logging
import posixpath
import select
import shlex
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from config.settings import FleetSettings, NodeSettings
from slopops.fleet.errors import (
    CommandFailedError,
    CommandTimeoutError,
    HostKeyError,
    NodeUnreachableError,
    SshAuthError,
    TransferError,
)

logger = logging.getLogger(__name__)

_READ_BYTES = 65536
_REDACTED = "***"
# sshd can send the exit status before the last output it reads from the
# command's pipe, so after the status the read waits this long for EOF. A
# background child that keeps stdout open only costs this wait.
_EOF_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class CommandResult:
    """Exit status and decoded output of one remote command."""

    command: str
    exit_status: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Checkpoint:
    """A line that a command prints on stdout when its first part is done.

    The command's own timeout covers the first part, up to this line. The
    rest, named ``log_as`` in errors, then has ``timeout_seconds``.
    """

    line: str
    timeout_seconds: float
    log_as: str


def known_hosts_entry(host: str, port: int) -> str:
    """Return the host name as known_hosts writes it: ``[host]:port`` unless 22."""
    return host if port == 22 else f"[{host}]:{port}"


def export_env(command: str, env: Mapping[str, str] | None) -> str:
    """Prefix ``command`` with ``export`` of each variable, quoted with shlex."""
    if not env:
        return command
    pairs = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    return f"export {pairs}; {command}"


class SshConnection:
    """An open SSH connection to one node, from :meth:`SshConnector.connect`."""

    def __init__(
        self,
        node: NodeSettings,
        client: paramiko.SSHClient,
        command_timeout_seconds: float,
        secrets: Iterable[str] = (),
    ) -> None:
        self.node = node
        self._client = client
        self._command_timeout_seconds = command_timeout_seconds
        self._secrets = [secret for secret in secrets if secret]
        self._sftp_client: paramiko.SFTPClient | None = None

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout_seconds: float | None = None,
        log_as: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> CommandResult:
        """Run a shell command on the node and return its status and output.

        Args:
            command: A POSIX shell command; quote every variable part with
                ``shlex.quote``.
            env: Variables exported before the command runs; their values are
                never logged.
            check: Raise :class:`CommandFailedError` on a non-zero exit status.
            timeout_seconds: Time allowed for the whole command; defaults to the
                fleet's ``command_timeout_seconds``.
            log_as: Short text logged and used in errors in place of a long
                command.
            checkpoint: A line that ends the command's first part and starts
                a second timeout for the rest.

        Raises:
            CommandTimeoutError: The command did not finish in time.
            CommandFailedError: ``check`` is set and the command exited non-zero.
            NodeUnreachableError: The connection dropped.
        """
        timeout = timeout_seconds or self._command_timeout_seconds
        shown = self.redact(log_as or command)
        logger.info("node %s: run %s", self.node.name, shown)
        try:
            result = self._exec(export_env(command, env), shown, timeout, checkpoint)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise NodeUnreachableError(
                self.node.name, self.node.host, str(exc)
            ) from exc
        logger.debug(
            "node %s: exit %d stdout=%r stderr=%r",
            self.node.name,
            result.exit_status,
            self.redact(result.stdout[-2000:]),
            self.redact(result.stderr[-2000:]),
        )
        if check and result.exit_status != 0:
            raise CommandFailedError(
                self.node.name, shown, result.exit_status, self.redact(result.stderr)
            )
        return result

    def _exec(
        self,
        script: str,
        shown: str,
        timeout: float,
        checkpoint: Checkpoint | None = None,
    ) -> CommandResult:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise NodeUnreachableError(
                self.node.name, self.node.host, "connection lost"
            )
        channel = transport.open_session(timeout=timeout)
        deadline = time.monotonic() + timeout
        mark = f"{checkpoint.line}\n".encode() if checkpoint else None
        eof_deadline: float | None = None
        stdout, stderr = bytearray(), bytearray()
        try:
            channel.exec_command(script)
            while True:
                _drain(channel, stdout, stderr)
                if checkpoint and mark and mark in stdout:
                    # The first part is done: the rest gets its own timeout.
                    mark = None
                    shown = self.redact(checkpoint.log_as)
                    timeout = checkpoint.timeout_seconds
                    deadline = time.monotonic() + timeout
                if channel.exit_status_ready() and not _pending(channel):
                    if eof_deadline is None:
                        eof_deadline = time.monotonic() + _EOF_GRACE_SECONDS
                    if channel.eof_received or time.monotonic() >= eof_deadline:
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeoutError(
                        self.node.name, self.node.host, shown, timeout
                    )
                select.select([channel], [], [], min(remaining, 0.2))
            status = channel.recv_exit_status()
        finally:
            channel.close()
        return CommandResult(
            shown,
            status,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )

    def put(self, local_path: Path, remote_path: str) -> None:
        """Upload a file over SFTP.

        Raises:
            TransferError: The remote file cannot be written.
        """
        logger.info("node %s: upload %s to %s", self.node.name, local_path, remote_path)
        try:
            self._sftp().put(str(local_path), remote_path)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def read_text(self, remote_path: str) -> str | None:
        """Return a remote file's text over SFTP, or None when it does not exist."""
        try:
            with self._sftp().open(remote_path, "r") as handle:
                return handle.read().decode()
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def write_text(self, remote_path: str, text: str) -> None:
        """Write a remote file atomically: a temporary file, then a rename."""
        temporary = f"{remote_path}.tmp"
        try:
            sftp = self._sftp()
            with sftp.open(temporary, "w") as handle:
                handle.write(text.encode())
            sftp.posix_rename(temporary, remote_path)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def create_exclusive(self, remote_path: str, text: str) -> bool:
        """Create a remote file with ``text``; return False if it exists.

        The SFTP open uses O_EXCL, so of two callers only one creates it.
        """
        try:
            with self._sftp().open(remote_path, "x") as handle:
                handle.write(text.encode())
        except (OSError, paramiko.SSHException, EOFError) as exc:
            # SFTP reports an existing file as a bare "Failure".
            if self.read_text(remote_path) is not None:
                return False
            raise TransferError(self.node.name, remote_path, str(exc)) from exc
        return True

    def remove(self, remote_path: str) -> None:
        """Delete a remote file over SFTP; a missing file is no error."""
        try:
            self._sftp().remove(remote_path)
        except FileNotFoundError:
            return
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def makedirs(self, remote_path: str) -> None:
        """Create a remote directory and its missing parents over SFTP.

        Like ``mkdir -p``, a directory that appears meanwhile is no error.

        Raises:
            TransferError: A directory cannot be created, or a part of the
                path exists and is not a directory.
        """
        try:
            sftp = self._sftp()
            missing: list[str] = []
            path = posixpath.normpath(remote_path)
            while path not in ("/", "", ".") and not self._is_dir(sftp, path):
                missing.append(path)
                path = posixpath.dirname(path)
            for directory in reversed(missing):
                self._mkdir(sftp, directory)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def _mkdir(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        try:
            sftp.mkdir(directory)
        except OSError:
            # SFTP reports most mkdir failures as a bare "Failure", so the
            # path is checked again to tell what went wrong.
            try:
                mode = sftp.stat(directory).st_mode
            except OSError:
                mode = None
            if mode is None:
                raise
            if stat.S_ISDIR(mode):
                return
            raise TransferError(
                self.node.name,
                directory,
                "the path exists and is not a directory",
                fix="move that file away, or choose another app_dir",
            ) from None

    def is_dir(self, remote_path: str) -> bool:
        """Return whether a remote path is a directory, following links."""
        try:
            return self._is_dir(self._sftp(), remote_path)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    @staticmethod
    def _is_dir(sftp: paramiko.SFTPClient, remote_path: str) -> bool:
        try:
            mode = sftp.stat(remote_path).st_mode
        except FileNotFoundError:
            return False
        return mode is not None and stat.S_ISDIR(mode)

    def listdir(self, remote_path: str) -> list[str]:
        """Return the names in a remote directory over SFTP."""
        try:
            return sorted(self._sftp().listdir(remote_path))
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise TransferError(self.node.name, remote_path, str(exc)) from exc

    def close(self) -> None:
        """Close the SFTP session and the connection."""
        if self._sftp_client is not None:
            self._sftp_client.close()
        self._client.close()

    def _sftp(self) -> paramiko.SFTPClient:
        # One SFTP session per connection: opening one costs a round trip.
        if self._sftp_client is None:
            self._sftp_client = self._client.open_sftp()
            self._sftp_client.get_channel().settimeout(self._command_timeout_seconds)
        return self._sftp_client

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret of this connection replaced."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


def _drain(channel: paramiko.Channel, stdout: bytearray, stderr: bytearray) -> None:
    while channel.recv_ready():
        stdout += channel.recv(_READ_BYTES)
    while channel.recv_stderr_ready():
        stderr += channel.recv_stderr(_READ_BYTES)


def _pending(channel: paramiko.Channel) -> bool:
    return channel.recv_ready() or channel.recv_stderr_ready()


class SshConnector:
    """Open SSH connections to the fleet's nodes, at most N at a time.

    Args:
        fleet: Key path, known_hosts file, timeouts and the connection cap.
            Paths must already be absolute (see :func:`slopops.fleet.resolve_fleet`).
        secrets: Strings replaced by ``***`` in every logged command and output.
    """

    def __init__(self, fleet: FleetSettings, secrets: Iterable[str] = ()) -> None:
        if fleet.ssh_key_path is None:
            raise ValueError("fleet.ssh_key_path is not set; set it to a private key")
        self.fleet = fleet
        self._key_path = fleet.ssh_key_path
        self._slots = threading.BoundedSemaphore(fleet.max_parallel_connections)
        self._secrets = tuple(secrets)

    @contextmanager
    def connect(self, node: NodeSettings) -> Iterator[SshConnection]:
        """Open a connection to ``node``, holding one of the connection slots.

        Raises:
            HostKeyError: The host key is unknown or changed.
            SshAuthError: The key was rejected.
            NodeUnreachableError: The node did not respond in time.
        """
        with self._slots:
            client = self._open(node)
            connection = SshConnection(
                node, client, self.fleet.command_timeout_seconds, self._secrets
            )
            try:
                yield connection
            finally:
                connection.close()

    def _open(self, node: NodeSettings) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.fleet.known_hosts_file is not None:
            if self.fleet.known_hosts_file.exists():
                client.load_host_keys(str(self.fleet.known_hosts_file))
        if node.host_key:
            _add_host_key(client, node)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        timeout = self.fleet.connect_timeout_seconds
        logger.info(
            "node %s: connect %s@%s:%d", node.name, node.user, node.host, node.port
        )
        try:
            client.connect(
                node.host,
                port=node.port,
                username=node.user,
                key_filename=str(self._key_path),
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(node.name, node.host, "has changed") from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SshAuthError(node.name, node.user, node.host) from exc
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc):
                raise HostKeyError(node.name, node.host, "is not known") from exc
            raise NodeUnreachableError(node.name, node.host, str(exc)) from exc
        except OSError as exc:
            client.close()
            raise NodeUnreachableError(
                node.name, node.host, _connect_failure(node, exc, timeout)
            ) from exc
        return client


def _connect_failure(node: NodeSettings, exc: OSError, timeout: float) -> str:
    """Describe why the TCP connection to ``node`` failed, naming host and port.

    paramiko wraps refused connections in ``NoValidConnectionsError``, whose
    ``errno`` is None and whose ``errors`` maps each address tried to the
    socket error.
    """
    target = f"{node.host}:{node.port}"
    causes: list[OSError] = [exc]
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        causes = list(exc.errors.values()) or causes
    reasons = []
    for cause in causes:
        if isinstance(cause, TimeoutError):
            reasons.append(f"connection to {target} timed out after {timeout:g} s")
        elif isinstance(cause, ConnectionRefusedError):
            reasons.append(f"connection to {target} refused")
        else:
            reason = cause.strerror or str(cause) or type(cause).__name__
            reasons.append(f"connection to {target} failed: {reason}")
    return "; ".join(dict.fromkeys(reasons))


def _add_host_key(client: paramiko.SSHClient, node: NodeSettings) -> None:
    parts = (node.host_key or "").split()
    if len(parts) < 2:
        raise ValueError(
            f"node {node.name!r}: host_key {node.host_key!r} is not "
            "'<type> <base64 key>'; copy it from the node's ssh_host_*_key.pub"
        )
    key = paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    entry = known_hosts_entry(node.host, node.port)
    client.get_host_keys().add(entry, key.get_name(), key)
