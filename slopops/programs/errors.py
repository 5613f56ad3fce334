"""Errors of program releases.

::

    SlopopsError
    └── ProgramReleaseError              base; carries the program name
        ├── PreflightError               a check before signing failed
        │   ├── GenesisHashMismatchError the RPC serves another cluster
        │   ├── UpgradeAuthorityMismatchError
        │   ├── ProgramFinalError        the program can no longer be upgraded
        │   ├── InsufficientFundsError   the fee payer cannot pay the estimate
        │   ├── InvalidElfError          the file is not a deployable sBPF ELF
        │   └── ProgramNotFoundError     an upgrade target that does not exist
        ├── ProgramUnchangedError        the file already runs, with no record
        ├── DeployRejectedError          the loader rejected deploy or upgrade
        ├── VerificationError            on-chain bytes differ from the release
        ├── NoRollbackTargetError        no previous release to go back to
        └── ReleaseStoreError            the release store is unreadable
"""

from __future__ import annotations

from slopops.errors import SlopopsError


class ProgramReleaseError(SlopopsError):
    """Base of program release errors.

    Attributes:
        program: The program name from the profile.
    """

    def __init__(self, program: str, message: str) -> None:
        self.program = program
        super().__init__(message)


class PreflightError(ProgramReleaseError):
    """A check before anything is signed failed."""


class GenesisHashMismatchError(PreflightError):
    """The RPC endpoint serves a cluster other than the profile's."""

    def __init__(self, program: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            program,
            f"RPC genesis hash {actual!r} differs from the profile's {expected!r}; "
            "point rpc.url at the right cluster or fix rpc.genesis_hash",
        )


class UpgradeAuthorityMismatchError(PreflightError):
    """The program's upgrade authority is not the configured key."""

    def __init__(self, program: str, program_id: str, expected: str, actual: str):
        self.program_id = program_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            program,
            f"program {program_id!r} has upgrade authority {actual!r}, not the "
            f"configured {expected!r}; configure the right upgrade_authority_keypair",
        )


class ProgramFinalError(PreflightError):
    """The program has no upgrade authority, so it can never be upgraded."""

    def __init__(self, program: str, program_id: str) -> None:
        self.program_id = program_id
        super().__init__(
            program,
            f"program {program_id!r} is final (no upgrade authority) and cannot be "
            "upgraded; deploy under a new program id instead",
        )


class ProgramNotFoundError(PreflightError):
    """The program account is missing or not a loader-v3 program."""

    def __init__(self, program: str, program_id: str, problem: str) -> None:
        self.program_id = program_id
        super().__init__(program, f"program {program_id!r} {problem}")


class InsufficientFundsError(PreflightError):
    """The fee payer's balance is below the release's estimated cost."""

    def __init__(
        self, program: str, payer: str, balance_lamports: int, needed_lamports: int
    ) -> None:
        self.payer = payer
        self.balance_lamports = balance_lamports
        self.needed_lamports = needed_lamports
        super().__init__(
            program,
            f"fee payer {payer!r} has {balance_lamports} lamports but the release "
            f"needs about {needed_lamports}; fund it with at least "
            f"{needed_lamports - balance_lamports} more lamports",
        )


class InvalidElfError(PreflightError):
    """The file is not an sBPF ELF the loader accepts."""

    def __init__(self, program: str, source: str, problem: str) -> None:
        self.source = source
        super().__init__(
            program,
            f"program file {source!r} {problem}; build it with `anchor build` "
            "or `cargo build-sbf`",
        )


class ProgramUnchangedError(ProgramReleaseError):
    """The program already runs the file, but the release store has no record.

    Upgrading to the same bytes would make the file its own rollback target.
    """

    def __init__(self, program: str, program_id: str, sha256: str) -> None:
        self.program_id = program_id
        self.sha256 = sha256
        super().__init__(
            program,
            f"program {program_id!r} already runs sha256 {sha256!r}, and the "
            "release store has no record of it; nothing to release, deploy a "
            "different file or restore the release store",
        )


class DeployRejectedError(ProgramReleaseError):
    """The loader rejected the deploy or upgrade transaction.

    Attributes:
        program_id: The program address.
        logs: Program log lines of the failed simulation or transaction.
        buffer: The buffer address, closed or left for ``close-buffers``.
        recovered_lamports: Lamports returned by closing the buffer (0 if open).
    """

    def __init__(
        self,
        program: str,
        program_id: str,
        reason: str,
        logs: list[str],
        buffer: str,
        recovered_lamports: int,
    ) -> None:
        self.program_id = program_id
        self.logs = logs
        self.buffer = buffer
        self.recovered_lamports = recovered_lamports
        self.reason = reason
        closed = (
            f"buffer {buffer} closed, {recovered_lamports} lamports recovered"
            if recovered_lamports
            else f"buffer {buffer} left open; run `slopops program close-buffers`"
        )
        super().__init__(
            program,
            f"loader rejected program {program_id!r}: {reason} ({closed}); "
            "fix the program and release again",
        )


class VerificationError(ProgramReleaseError):
    """The program's on-chain bytes do not hash to the release's sha256."""

    def __init__(self, program: str, program_id: str, expected: str, actual: str):
        self.program_id = program_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            program,
            f"program {program_id!r} on chain hashes to {actual!r}, not the "
            f"release's {expected!r}; the release failed, roll back or redeploy",
        )


class NoRollbackTargetError(ProgramReleaseError):
    """The release store has no earlier release to roll back to."""

    def __init__(self, program: str, current_sha256: str | None) -> None:
        self.current_sha256 = current_sha256
        super().__init__(
            program,
            f"program {program!r} has no release before {current_sha256!r} in the "
            "release store; nothing to roll back to, deploy a known good file",
        )


class ReleaseStoreError(ProgramReleaseError):
    """A release store file is missing, corrupt or inconsistent."""

    def __init__(self, program: str, path: str, problem: str) -> None:
        self.path = path
        super().__init__(program, f"release store file {path!r} {problem}")
