"""Fixtures for the Arweave client tests: funded wallets and a gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slopops.arweave import Gateway, RetryPolicy, Wallet
from slopops.arweave.wallet import generate_jwk, wallet_from_jwk
from slopops.stack.arlocal import mint

FAST_RETRY = RetryPolicy(attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture(scope="session")
def funded_wallet(arlocal: str) -> Wallet:
    """Return a wallet holding 10^15 winston on arlocal."""
    wallet = wallet_from_jwk(generate_jwk())
    mint(arlocal, wallet.address, 10**15)
    return wallet


@pytest.fixture(scope="session")
def other_wallet(arlocal: str) -> Wallet:
    """Return a second funded wallet, not ours."""
    wallet = wallet_from_jwk(generate_jwk())
    mint(arlocal, wallet.address, 10**15)
    return wallet


@pytest.fixture
def gateway(arlocal: str) -> Iterator[Gateway]:
    """Return a gateway client for arlocal with fast retries."""
    with Gateway(arlocal, timeout_seconds=10, retry=FAST_RETRY) as client:
        yield client
