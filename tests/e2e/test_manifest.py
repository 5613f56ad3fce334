"""Publishing a bundle's manifest to Arweave and in an on-chain memo."""

from __future__ import annotations

import httpx
import pytest

from slopops.bundles import store_bundle
from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(600)


def test_promote_publishes_manifest(simulation: Simulation, good_elf: bytes) -> None:
    simulation.reset_records()
    source = simulation.bundle_dir("published", good_elf)
    bundle = store_bundle(source, simulation.workspace / ".state/bundles")
    run_id = simulation.run(
        "promote/local", bundle=bundle.bundle_id, publish_manifest=True
    )
    simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=240)
    current = simulation.variable("release-record-local")["current"]
    transaction_id = current["manifest_transaction_id"]
    assert transaction_id
    data = httpx.get(f"{simulation.arweave_url}/{transaction_id}", timeout=30)
    assert data.status_code == 200
    assert data.content == (bundle.path / "manifest.json").read_bytes()

    signature = current["manifest_memo_signature"]
    body = httpx.post(
        simulation.chains["local"].url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getSignatureStatuses",
            "params": [[signature]],
        },
        timeout=30,
    ).json()
    (status,) = body["result"]["value"]
    assert status is not None
    assert status["err"] is None
