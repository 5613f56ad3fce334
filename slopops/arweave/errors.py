"""Errors of the Arweave client.

SlopopsError
└── ArweaveError
    ├── WalletError                 a wallet file is missing, unreadable or invalid
    ├── InsufficientBalanceError    the wallet cannot pay for an upload
    ├── GatewayRejectedError        the gateway returned a 4xx status: final
    ├── TransactionNotFoundError    no such transaction on the gateway
    ├── ConfirmationTimeoutError    a transaction was not mined in time
    ├── DataMismatchError           downloaded bytes differ from the expected hash
    └── UploadStateError            a resume state file does not match the upload
TransientError
└── GatewayUnavailableError         timeouts, 5xx or 429 after every retry
"""

from __future__ import annotations

from slopops.errors import SlopopsError, TransientError


class ArweaveError(SlopopsError):
    """An Arweave operation failed."""


class WalletError(ArweaveError):
    """A wallet file is missing, unreadable or not an RSA JWK."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"wallet {path!r} is invalid: {reason}")


class InsufficientBalanceError(ArweaveError):
    """The wallet's balance is below the price of an upload."""

    def __init__(self, address: str, balance_winston: int, price_winston: int) -> None:
        self.address = address
        self.balance_winston = balance_winston
        self.price_winston = price_winston
        super().__init__(
            f"wallet {address!r} has {balance_winston} winston but the upload costs "
            f"{price_winston} winston; fund the wallet with at least "
            f"{price_winston - balance_winston} winston more"
        )


class GatewayRejectedError(ArweaveError):
    """The gateway returned a 4xx status, so retrying would not help."""

    def __init__(self, url: str, status_code: int, body: str) -> None:
        self.url = url
        self.status_code = status_code
        super().__init__(
            f"gateway rejected {url!r} with status {status_code}: {body[:200]!r}; "
            "check the request and the wallet"
        )


class GatewayUnavailableError(TransientError):
    """Timeouts, 5xx or 429 statuses continued through every retry."""

    def __init__(self, url: str, attempts: int, reason: str) -> None:
        self.url = url
        self.attempts = attempts
        super().__init__(
            f"gateway request {url!r} failed after {attempts} attempts ({reason}); "
            "retry later or use another gateway"
        )


class TransactionNotFoundError(ArweaveError):
    """The gateway has no transaction with this id."""

    def __init__(self, transaction_id: str) -> None:
        self.transaction_id = transaction_id
        super().__init__(
            f"transaction {transaction_id!r} was not found on the gateway; check the "
            "id and that the gateway is the one the backup went to"
        )


class ConfirmationTimeoutError(TransientError):
    """A transaction stayed pending past its confirmation timeout."""

    def __init__(self, transaction_id: str, timeout_seconds: float) -> None:
        self.transaction_id = transaction_id
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"transaction {transaction_id!r} was not confirmed within "
            f"{timeout_seconds:.0f} s; wait and check its status again"
        )


class DataMismatchError(ArweaveError):
    """Downloaded data has another sha256 than expected."""

    def __init__(self, transaction_id: str, expected: str, actual: str) -> None:
        self.transaction_id = transaction_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"data of transaction {transaction_id!r} has sha256 {actual!r}, expected "
            f"{expected!r}; the object is corrupt or is not the one expected"
        )


class UploadStateError(ArweaveError):
    """A resume state file belongs to other data or is unreadable."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"upload state {path!r} cannot be resumed: {reason}; delete it to start "
            "a new upload"
        )
