"""Errors of backups and restores.

SlopopsError
└── BackupError
    ├── EncryptionNotConfiguredError   no age recipient and no key store
    ├── KeyStorePermissionError        the key store is open to group or others
    ├── KeyNotFoundError               a backup's key is not in the key store
    ├── KeyExpiredError                a backup's key was destroyed by retention
    ├── PgToolError                    pg_dump or pg_restore is missing or failed
    ├── AgeNotFoundError               the age binary for restores is not on PATH
    ├── SpoolWriteError                a restore could not write its spool files
    ├── ArchiveVersionError            local pg_restore cannot read the dump
    ├── ExtensionUnavailableError      the restore target lacks an extension
    ├── BackupNotFoundError            no backup matches the request
    ├── InvalidRequestError            a restore request's options are invalid
    ├── InvalidDsnError                a DSN does not parse
    ├── DatabaseUnreachableError       a PostgreSQL server refused or failed us
    ├── ManifestError                  a manifest is missing or invalid
    └── RowCountMismatchError          restored rows differ from the manifest
"""

from __future__ import annotations

from pathlib import Path

from slopops.errors import SlopopsError


class BackupError(SlopopsError):
    """A backup, restore or drill failed."""


class EncryptionNotConfiguredError(BackupError):
    """Neither ``arweave.key_store_dir`` nor ``arweave.age_recipient`` is set."""

    def __init__(self, environment: str) -> None:
        self.environment = environment
        super().__init__(
            f"backups of environment {environment!r} have no encryption key: set "
            "arweave.key_store_dir (a key per backup) or arweave.age_recipient"
        )


class KeyStorePermissionError(BackupError):
    """The key store directory is readable or writable by group or others."""

    def __init__(self, directory: str, mode: int) -> None:
        self.directory = directory
        self.mode = mode
        super().__init__(
            f"key store {directory!r} has mode {mode:04o}, open to group or "
            f"others; run `chmod 700 {directory}`"
        )


class KeyNotFoundError(BackupError):
    """The age key of a backup is not available for decryption."""

    def __init__(self, key_id: str, where: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"age key {key_id!r} is not in {where}; restore the key store from its "
            "own backup or set arweave.age_identity_file"
        )


class KeyExpiredError(BackupError):
    """The key of a backup was destroyed by retention; the backup is unreadable."""

    def __init__(self, key_id: str, transaction_id: str) -> None:
        self.key_id = key_id
        self.transaction_id = transaction_id
        super().__init__(
            f"backup {transaction_id!r} is expired: its key {key_id!r} was destroyed "
            "by retention, so it cannot be decrypted; choose a newer backup"
        )


class PgToolError(BackupError):
    """A PostgreSQL client program is missing or exited with an error."""

    def __init__(self, program: str, detail: str) -> None:
        self.program = program
        super().__init__(f"{program} failed: {detail}")


class AgeNotFoundError(BackupError):
    """The ``age`` binary, which decrypts dumps during a restore, is not on PATH."""

    def __init__(self) -> None:
        super().__init__(
            "the age binary was not found on PATH; install the Debian package "
            "age (deployments/install-system-packages.sh does, as root)"
        )


class SpoolWriteError(BackupError):
    """A restore could not write the downloaded or decrypted dump to its spool."""

    def __init__(self, spool_dir: Path, error: OSError) -> None:
        self.spool_dir = spool_dir
        super().__init__(
            f"writing the restore's spool in {spool_dir} failed ({error}); free "
            "space there or point state_dir at a larger disk, then run the "
            "restore again, which resumes the download from what it has"
        )


class ArchiveVersionError(BackupError):
    """The local pg_restore is older than the pg_dump that wrote the archive."""

    def __init__(self, pg_restore: str, restore_major: int, dump_version: str) -> None:
        self.pg_restore = pg_restore
        self.restore_major = restore_major
        self.dump_version = dump_version
        super().__init__(
            f"{pg_restore!r} (PostgreSQL {restore_major}) cannot read an archive "
            f"written by pg_dump {dump_version!r}; install pg_restore "
            f"{dump_version.split('.')[0]} or newer and set mem0.pg_bin_dir"
        )


class ExtensionUnavailableError(BackupError):
    """The restore target's server cannot create an extension the dump needs."""

    def __init__(self, target: str, extension: str) -> None:
        self.target = target
        self.extension = extension
        super().__init__(
            f"restore target {target!r} has no {extension!r} extension available; "
            f"install {extension} on that server or restore to another one"
        )


class BackupNotFoundError(BackupError):
    """No backup of our wallet matches the requested id or date."""

    def __init__(self, request: str) -> None:
        self.request = request
        super().__init__(
            f"no backup matches {request}; run `slopops backup list` to see them"
        )


class InvalidRequestError(BackupError):
    """A restore request's options are invalid or contradict each other."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


class InvalidDsnError(BackupError):
    """A PostgreSQL DSN does not parse as a libpq connection string or URI."""

    def __init__(self, role: str, masked_dsn: str, reason: str) -> None:
        self.role = role
        self.masked_dsn = masked_dsn
        super().__init__(
            f"{role} DSN {masked_dsn!r} is invalid ({reason}); write it as "
            "'host=H port=P dbname=D user=U' or 'postgresql://U@H:P/D'"
        )


class DatabaseUnreachableError(BackupError):
    """A PostgreSQL server cannot be reached or rejected the connection."""

    def __init__(self, role: str, host: str, port: str, database: str, reason: str):
        self.role = role
        self.host = host
        self.port = port
        self.database = database
        super().__init__(
            f"cannot connect to {role} database {database!r} at {host}:{port} "
            f"({reason}); check that the server runs and the DSN's host, port, "
            "user and password"
        )


class ManifestError(BackupError):
    """A backup's manifest is missing or cannot be parsed."""

    def __init__(self, backup_id: str, reason: str) -> None:
        self.backup_id = backup_id
        super().__init__(f"manifest of backup {backup_id!r} is unusable: {reason}")


class RowCountMismatchError(BackupError):
    """The restored tables have other row counts than the manifest records."""

    def __init__(self, target: str, differences: dict[str, tuple[int, int]]) -> None:
        self.target = target
        self.differences = differences
        listed = ", ".join(
            f"{table}: expected {expected}, found {found}"
            for table, (expected, found) in sorted(differences.items())
        )
        super().__init__(
            f"restore into {target!r} has wrong row counts ({listed}); do not use "
            "it and check the pg_restore log"
        )
