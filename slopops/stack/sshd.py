"""A private sshd per node address, with its own host key and configuration.

Each node of the local stack, the tests and the demo is an sshd listening on
its own loopback address (127.0.0.2, 127.0.0.3, ...) and port. sshd must run
as root. It reads keys from a temporary directory, hence ``StrictModes no``.
``MaxStartups 50:30:100`` lets 20 and more connections start at once (the
default 10:30:100 drops some).

Each sshd gives root's sessions a home directory of their own,
``<base_dir>/home`` seeded from /etc/skel, as separate hosts would have.
Other users keep the home that the password database names.
sshd starts every command in the user's shell, and Debian's bash reads
~/.bashrc then. A shared home would make every node run this machine's
~/.bashrc, and the nodes would contend for whatever it locks (pyenv's
rehash lock, for one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from slopops.fleet.ssh import known_hosts_entry
from slopops.stack.errors import ServiceStartError
from slopops.stack.process import ServiceProcess, check_port_free, free_port, spawn

SSHD_BIN = "/usr/sbin/sshd"
_PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")

_CONFIG = """\
Port {port}
ListenAddress {address}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel INFO
# Match lasts to the end of the file, so it stays last.
Match User root
    SetEnv "HOME={home}"
"""


@dataclass(frozen=True)
class Sshd:
    """A running private sshd."""

    address: str
    port: int
    host_key: str
    config_path: Path
    process: ServiceProcess

    @property
    def known_hosts_line(self) -> str:
        """Return this server's line for a known_hosts file."""
        return f"{known_hosts_entry(self.address, self.port)} {self.host_key}"

    def stop(self) -> None:
        """Stop the server by PID."""
        self.process.stop()


def generate_key(path: Path, comment: str = "slopops") -> str:
    """Create an ed25519 key pair at ``path`` if missing; return the public key.

    The public key is returned as ``'ssh-ed25519 AAAA...'``, without the comment.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                comment,
                "-f",
                str(path),
            ],
            check=True,
        )
        path.chmod(0o600)
    public = path.with_name(path.name + ".pub").read_text().split()
    return f"{public[0]} {public[1]}"


def start_sshd(
    base_dir: Path,
    address: str,
    authorized_keys: Path,
    port: int | None = None,
    timeout_seconds: float = 15.0,
) -> Sshd:
    """Start an sshd on ``address`` with a fresh host key under ``base_dir``.

    Args:
        base_dir: Directory for the host key, configuration, PID file and log.
        address: Loopback address to listen on, such as ``127.0.0.2``.
        authorized_keys: File of public keys accepted for every user.
        port: TCP port; a free one on ``address`` when omitted.
        timeout_seconds: Time allowed for sshd to accept connections.

    Raises:
        PortInUseError: ``port`` is taken.
        ServiceStartError: sshd is not installed, is not run as root, or did not
            start in time.
    """
    _check_can_run(address)
    port = port or free_port(address)
    check_port_free(address, port, f"sshd on {address}")
    base_dir.mkdir(parents=True, exist_ok=True)
    _PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    host_key_path = base_dir / "ssh_host_ed25519_key"
    host_key = generate_key(host_key_path, comment=f"sshd-{address}")
    home = _make_home(base_dir / "home")
    config_path = base_dir / "sshd_config"
    config_path.write_text(
        _CONFIG.format(
            port=port,
            address=address,
            host_key=host_key_path,
            pid_file=base_dir / "sshd.pid",
            authorized_keys=authorized_keys,
            home=home,
        )
    )
    process = spawn(
        f"sshd-{address}",
        [SSHD_BIN, "-D", "-e", "-f", str(config_path)],
        url=f"ssh://{address}:{port}",
        log_path=base_dir / "sshd.log",
        ready=lambda: _accepts(address, port),
        timeout_seconds=timeout_seconds,
    )
    return Sshd(address, port, host_key, config_path, process)


def write_known_hosts(path: Path, servers: list[Sshd]) -> None:
    """Write a known_hosts file listing each server's host key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{server.known_hosts_line}\n" for server in servers))


def add_known_host(path: Path, server: Sshd) -> None:
    """Add ``server`` to a known_hosts file, replacing its earlier key if any."""
    entry = known_hosts_entry(server.address, server.port)
    lines = path.read_text().splitlines() if path.exists() else []
    other_hosts = [line for line in lines if line.split(" ", 1)[0] != entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"{line}\n" for line in [*other_hosts, server.known_hosts_line])
    )


def start_node_sshd(
    state_dir: Path, address: str, port: int, client_key: Path, known_hosts: Path
) -> Sshd:
    """Start the sshd of a node on this machine, such as the local MCP server.

    Creates the client key if missing and lets it log in, starts sshd with
    the host key kept in ``state_dir`` (so it survives restarts), and records
    that key in ``known_hosts``.
    """
    public_key = generate_key(client_key, comment="slopops-fleet")
    authorized_keys = state_dir / "authorized_keys"
    state_dir.mkdir(parents=True, exist_ok=True)
    authorized_keys.write_text(public_key + "\n")
    server = start_sshd(state_dir, address, authorized_keys, port=port)
    add_known_host(known_hosts, server)
    return server


def _make_home(home: Path) -> Path:
    """Create a node's home directory from /etc/skel unless it exists."""
    if '"' in str(home):
        # The value goes inside double quotes in sshd_config.
        raise ValueError(
            f"node home {str(home)!r} contains a double quote; "
            "use a base directory without one"
        )
    if not home.exists():
        skeleton = Path("/etc/skel")
        if skeleton.is_dir():
            shutil.copytree(skeleton, home, symlinks=True)
        else:
            home.mkdir(parents=True)
        home.chmod(0o755)
    return home


def _check_can_run(address: str) -> None:
    if not Path(SSHD_BIN).exists() or shutil.which("ssh-keygen") is None:
        raise ServiceStartError(
            f"sshd-{address}",
            "openssh-server is not installed (run deployments/"
            "install-system-packages.sh as root)",
            Path(os.devnull),
        )
    if os.geteuid() != 0:
        raise ServiceStartError(
            f"sshd-{address}", "sshd must run as root", Path(os.devnull)
        )


def _accepts(address: str, port: int) -> bool:
    with socket.create_connection((address, port), timeout=1.0) as sock:
        return sock.recv(4).startswith(b"SSH-")
