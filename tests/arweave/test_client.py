"""Arweave client against arlocal, with faults injected by a local proxy."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from slopops.arweave import (
    Gateway,
    RetryPolicy,
    check_funds,
    download_file,
    find_transactions,
    upload_file,
    verify_data,
    wait_for_confirmation,
)
from slopops.arweave.errors import (
    DataMismatchError,
    GatewayRejectedError,
    GatewayUnavailableError,
    InsufficientBalanceError,
    UploadStateError,
    WalletError,
)
from slopops.arweave.transactions import chunk_ranges, decode_tags
from slopops.arweave.wallet import (
    generate_jwk,
    generate_wallet,
    load_wallet,
    wallet_from_jwk,
)
from tests.arweave.conftest import FAST_RETRY
from tests.arweave.faults import Fault, fault_proxy

CHUNK = 256 * 1024


def _random_file(path: Path, size: int) -> Path:
    # Random bytes: arlocal drops chunks whose content it has seen before.
    path.write_bytes(os.urandom(size))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tags(**extra: str) -> dict[str, str]:
    return {
        "App-Name": "slopops-test",
        "Unix-Time-Ms": str(time.time_ns() // 10**6),
        **extra,
    }


def test_chunk_ranges_balance_short_tail() -> None:
    assert chunk_ranges(10) == [(0, 10)]
    assert chunk_ranges(CHUNK) == [(0, CHUNK)]
    assert chunk_ranges(CHUNK + 1000) == [
        (0, CHUNK // 2 + 500),
        (CHUNK // 2 + 500, CHUNK + 1000),
    ]
    assert chunk_ranges(CHUNK + 40_000) == [(0, CHUNK), (CHUNK, CHUNK + 40_000)]


def test_wallet_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "wallet.json"
    wallet = generate_wallet(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_wallet(path).address == wallet.address
    with pytest.raises(WalletError, match="already exists"):
        generate_wallet(path)
    path.chmod(0o644)
    with pytest.raises(WalletError, match="chmod 600"):
        load_wallet(path)


def test_wallet_rejects_non_rsa_jwk() -> None:
    with pytest.raises(WalletError, match="not an RSA JWK"):
        wallet_from_jwk({"kty": "EC", "n": "x"})


def test_upload_round_trip(tmp_path, gateway, funded_wallet) -> None:
    source = _random_file(tmp_path / "data.bin", 3 * CHUNK + 12_345)
    balance_before = gateway.balance_winston(funded_wallet.address)
    result = upload_file(
        gateway,
        funded_wallet,
        source,
        tags=_tags(Note="ünïcode"),
        state_path=tmp_path / "upload.json",
    )
    gateway.mine()
    status = wait_for_confirmation(
        gateway, result.transaction_id, timeout_seconds=10, poll_seconds=0.1
    )
    assert status.confirmed
    assert result.chunk_count == 4
    assert not result.resumed
    assert not (tmp_path / "upload.json").exists()
    assert gateway.balance_winston(funded_wallet.address) == (
        balance_before - result.reward_winston
    )
    header = gateway.transaction(result.transaction_id)
    assert decode_tags(header["tags"])["Note"] == "ünïcode"
    target = download_file(
        gateway,
        result.transaction_id,
        tmp_path / "copy.bin",
        expected_sha256=_sha256(source),
    )
    assert target.read_bytes() == source.read_bytes()
    verify_data(gateway, result.transaction_id, expected_sha256=_sha256(source))
    with pytest.raises(DataMismatchError):
        verify_data(gateway, result.transaction_id, expected_sha256="0" * 64)


def test_chunk_5xx_and_timeouts_retried(tmp_path, arlocal, funded_wallet) -> None:
    source = _random_file(tmp_path / "data.bin", 3 * CHUNK)
    with fault_proxy(arlocal) as proxy:
        proxy.faults = [
            Fault("POST", "/chunk", "status", status=503, times=2),
            Fault("POST", "/chunk", "stall", stall_seconds=1.5, skip=3, times=1),
            Fault("POST", "/chunk", "status", status=429, skip=5, times=1),
        ]
        with Gateway(proxy.url, timeout_seconds=0.5, retry=FAST_RETRY) as gateway:
            result = upload_file(
                gateway,
                funded_wallet,
                source,
                tags=_tags(),
                state_path=tmp_path / "upload.json",
            )
            gateway.mine()
            download_file(
                gateway,
                result.transaction_id,
                tmp_path / "copy.bin",
                expected_sha256=_sha256(source),
            )
        chunk_posts = [
            path
            for method, path in proxy.requests
            if method == "POST" and path == "/chunk"
        ]
    # Three chunks, two 503s, one stall and one 429: each fault cost one retry.
    assert len(chunk_posts) == 3 + 4


def test_gateway_4xx_not_retried(tmp_path, arlocal, funded_wallet) -> None:
    source = _random_file(tmp_path / "data.bin", CHUNK)
    with fault_proxy(arlocal) as proxy:
        proxy.faults = [Fault("POST", "/chunk", "status", status=400, times=5)]
        with Gateway(proxy.url, retry=FAST_RETRY) as gateway:
            with pytest.raises(GatewayRejectedError, match="status 400"):
                upload_file(
                    gateway,
                    funded_wallet,
                    source,
                    tags=_tags(),
                    state_path=tmp_path / "upload.json",
                )
        assert proxy.faults[0].seen == 1


def test_killed_upload_resumes_same_transaction(
    tmp_path, arlocal, gateway, funded_wallet
) -> None:
    source = _random_file(tmp_path / "data.bin", 5 * CHUNK)
    state_path = tmp_path / "upload.json"
    balance_before = gateway.balance_winston(funded_wallet.address)
    with fault_proxy(arlocal) as proxy:
        # After two chunks the gateway fails every chunk: the upload stops.
        proxy.faults = [
            Fault("POST", "/chunk", "status", status=502, skip=2, times=1000)
        ]
        with Gateway(proxy.url, retry=FAST_RETRY) as failing:
            with pytest.raises(GatewayUnavailableError, match="after 4 attempts"):
                upload_file(
                    failing,
                    funded_wallet,
                    source,
                    tags=_tags(),
                    state_path=state_path,
                )
    state = json.loads(state_path.read_text())
    assert state["next_chunk"] == 2
    assert state["posted"] is True
    first_id = state["transaction"]["id"]

    result = upload_file(
        gateway, funded_wallet, source, tags=_tags(), state_path=state_path
    )
    gateway.mine()
    assert result.resumed
    assert result.transaction_id == first_id
    assert gateway.balance_winston(funded_wallet.address) == (
        balance_before - result.reward_winston
    )
    copy = download_file(
        gateway, first_id, tmp_path / "copy.bin", expected_sha256=_sha256(source)
    )
    assert copy.read_bytes() == source.read_bytes()


def test_resume_state_for_other_data_rejected(tmp_path, gateway, funded_wallet) -> None:
    state_path = tmp_path / "upload.json"
    state_path.write_text(
        json.dumps(
            {
                "transaction": {"id": "x", "data_root": "other", "data_size": "1"},
                "posted": True,
                "next_chunk": 0,
            }
        )
    )
    source = _random_file(tmp_path / "data.bin", 1000)
    with pytest.raises(UploadStateError, match="not this file"):
        upload_file(gateway, funded_wallet, source, tags=_tags(), state_path=state_path)


def test_insufficient_balance_fails_before_upload(tmp_path, arlocal, gateway) -> None:
    poor = wallet_from_jwk(generate_jwk())
    source = _random_file(tmp_path / "data.bin", CHUNK)
    price = gateway.price_winston(CHUNK)
    with pytest.raises(InsufficientBalanceError) as caught:
        upload_file(
            gateway, poor, source, tags=_tags(), state_path=tmp_path / "upload.json"
        )
    assert f"has 0 winston but the upload costs {price} winston" in str(caught.value)
    assert caught.value.price_winston == price
    assert not (tmp_path / "upload.json").exists()
    with pytest.raises(InsufficientBalanceError):
        check_funds(gateway, poor, CHUNK)


def test_download_hash_mismatch_rejected(tmp_path, gateway, funded_wallet) -> None:
    source = _random_file(tmp_path / "data.bin", CHUNK + 100)
    result = upload_file(
        gateway,
        funded_wallet,
        source,
        tags=_tags(),
        state_path=tmp_path / "upload.json",
    )
    gateway.mine()
    with pytest.raises(DataMismatchError, match="is corrupt"):
        download_file(
            gateway,
            result.transaction_id,
            tmp_path / "copy.bin",
            expected_sha256="0" * 64,
        )
    assert not (tmp_path / "copy.bin").exists()
    assert not (tmp_path / "copy.bin.part").exists()


def test_download_resumes_after_failure(
    tmp_path, arlocal, gateway, funded_wallet
) -> None:
    source = _random_file(tmp_path / "data.bin", 4 * CHUNK)
    result = upload_file(
        gateway,
        funded_wallet,
        source,
        tags=_tags(),
        state_path=tmp_path / "upload.json",
    )
    gateway.mine()
    target = tmp_path / "copy.bin"
    with fault_proxy(arlocal) as proxy:
        proxy.faults = [
            Fault("GET", "/chunk/", "status", status=500, skip=2, times=1000)
        ]
        with Gateway(proxy.url, retry=FAST_RETRY) as failing:
            with pytest.raises(GatewayUnavailableError):
                download_file(
                    failing,
                    result.transaction_id,
                    target,
                    expected_sha256=_sha256(source),
                )
    # Chunks are fetched ahead in threads, so which two requests passed the
    # proxy varies; the part file keeps the whole chunks from the start.
    part = tmp_path / "copy.bin.part"
    kept_bytes = part.stat().st_size if part.exists() else 0
    assert kept_bytes % CHUNK == 0
    assert kept_bytes <= 2 * CHUNK
    with fault_proxy(arlocal) as proxy:
        with Gateway(proxy.url, retry=FAST_RETRY) as working:
            download_file(
                working, result.transaction_id, target, expected_sha256=_sha256(source)
            )
        chunk_gets = [p for m, p in proxy.requests if p.startswith("/chunk/")]
    assert len(chunk_gets) == 4 - kept_bytes // CHUNK
    assert target.read_bytes() == source.read_bytes()


def test_lookup_ignores_other_wallet(
    tmp_path, gateway, funded_wallet, other_wallet
) -> None:
    marker = os.urandom(6).hex()
    ids = {}
    for name, wallet in [
        ("ours-old", funded_wallet),
        ("theirs", other_wallet),
        ("ours-new", funded_wallet),
    ]:
        source = _random_file(tmp_path / f"{name}.bin", 1000)
        result = upload_file(
            gateway,
            wallet,
            source,
            tags=_tags(Lookup=marker, Name=name),
            state_path=tmp_path / f"{name}.json",
        )
        ids[name] = result.transaction_id
        if name == "ours-old":
            gateway.mine()
        time.sleep(0.01)
    found = find_transactions(
        gateway,
        owners=[funded_wallet.address],
        tags={"Lookup": marker},
        sort_tag="Unix-Time-Ms",
    )
    assert [item.transaction_id for item in found] == [ids["ours-new"], ids["ours-old"]]
    assert found[0].pending
    assert not found[1].pending
    theirs = find_transactions(
        gateway,
        owners=[other_wallet.address],
        tags={"Lookup": marker},
        sort_tag="Unix-Time-Ms",
    )
    assert [item.transaction_id for item in theirs] == [ids["theirs"]]
    gateway.mine()


def test_confirmation_times_out_while_pending(tmp_path, gateway, funded_wallet) -> None:
    source = _random_file(tmp_path / "data.bin", 1000)
    result = upload_file(
        gateway,
        funded_wallet,
        source,
        tags=_tags(),
        state_path=tmp_path / "upload.json",
    )
    from slopops.arweave.errors import ConfirmationTimeoutError

    with pytest.raises(ConfirmationTimeoutError, match="not confirmed within"):
        wait_for_confirmation(
            gateway, result.transaction_id, timeout_seconds=0.3, poll_seconds=0.1
        )
    gateway.mine()


def test_retry_policy_backoff_grows() -> None:
    policy = RetryPolicy(attempts=5, backoff_seconds=1.0, max_backoff_seconds=3.0)
    assert 0.5 <= policy.delay_seconds(1) <= 1.0
    assert 1.0 <= policy.delay_seconds(2) <= 2.0
    assert 1.5 <= policy.delay_seconds(5) <= 3.0


def test_data_root_matches_library_for_full_chunks(tmp_path) -> None:
    from arweave.merkle import compute_root_hash

    from slopops.arweave.transactions import layout_file

    source = _random_file(tmp_path / "data.bin", 3 * CHUNK)
    with source.open("rb") as handle:
        expected = compute_root_hash(handle)
    layout = layout_file(source)
    assert layout.data_root == expected
    assert layout.ranges == [(0, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, 3 * CHUNK)]
