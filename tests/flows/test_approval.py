"""The approval form: schema-level binding to the bundle and input validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prefect.utilities.schema_tools import ValidationError, validate

from flows.approval import ApprovalInput, approval_form, describe_changes
from slopops.bundles import Manifest, Release, ReleaseRecord, record_promotion
from slopops.bundles.manifest import FileEntry, ProgramEntry

BUNDLE_ID = "0123abcd" + "e" * 56
VALID = {
    "approver": "alice",
    "decision": "approve",
    "reason": "ok",
    "bundle": "0123abcd",
}


def schema() -> dict:
    return approval_form(BUNDLE_ID).model_json_schema()


def test_valid_input_accepted() -> None:
    validate(VALID, schema(), raise_on_error=True)
    assert approval_form(BUNDLE_ID).model_validate(VALID).decision == "approve"


@pytest.mark.parametrize(
    "change",
    [
        {"bundle": "ffffffff"},
        {"bundle": "0123abc"},
        {"bundle": "0123abcde"},
        {"approver": ""},
        {"approver": "  "},
        {"decision": "maybe"},
        {"reason": "x" * 1001},
    ],
)
def test_invalid_input_rejected_by_schema(change: dict) -> None:
    with pytest.raises(ValidationError):
        validate({**VALID, **change}, schema(), raise_on_error=True)


@pytest.mark.parametrize("missing", ["approver", "decision", "bundle"])
def test_missing_field_rejected(missing: str) -> None:
    data = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(ValidationError):
        validate(data, schema(), raise_on_error=True)


def test_reason_optional() -> None:
    data = {k: v for k, v in VALID.items() if k != "reason"}
    validate(data, schema(), raise_on_error=True)


def test_form_is_an_approval_input() -> None:
    assert issubclass(approval_form(BUNDLE_ID), ApprovalInput)


def test_description_shows_old_and_new() -> None:
    old = Release(
        bundle_id="9" * 64,
        programs={"slop_registry": "1" * 64},
        node_release="2" * 16,
        mcp_image="img:old",
        deployed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    record = record_promotion(ReleaseRecord(environment="mainnet-beta"), old)
    manifest = Manifest(
        programs=(
            ProgramEntry(
                name="slop_registry",
                path="programs/slop_registry.so",
                sha256="3" * 64,
                size_bytes=1,
            ),
        ),
        node_release=FileEntry(
            path="nodes/agent-2.0.tar.gz", sha256="4" * 64, size_bytes=1
        ),
        mcp_image="img:new",
    )
    text = describe_changes("mainnet-beta", record, manifest)
    assert manifest.bundle_id in text
    assert "1" * 64 in text
    assert "3" * 64 in text
    assert "2" * 16 in text
    assert "agent-2.0" in text
    assert "img:old" in text
    assert "img:new" in text
    assert manifest.bundle_id[:8] in text
