"""Release records: promotion, rollback and the soak gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slopops.bundles import (
    Release,
    ReleaseRecord,
    record_promotion,
    record_rollback,
    soak_remaining_seconds,
)

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def release(bundle: str, **kwargs: object) -> Release:
    values = {
        "bundle_id": bundle * 64,
        "programs": {"p": bundle * 64},
        "node_release": bundle * 16,
        "mcp_image": f"img:{bundle}",
        "deployed_at": NOW,
        "verified": True,
    }
    values.update(kwargs)
    return Release.model_validate(values)


def test_promotion_shifts_current_previous_past() -> None:
    record = ReleaseRecord(environment="devnet")
    for name in "abc":
        record = record_promotion(record, release(name))
    assert record.current is not None and record.current.bundle_id == "c" * 64
    assert record.previous is not None and record.previous.bundle_id == "b" * 64
    assert [r.bundle_id for r in record.past] == ["a" * 64]


def test_full_rollback_restores_previous() -> None:
    record = ReleaseRecord(environment="devnet")
    for name in "abc":
        record = record_promotion(record, release(name))
    rolled = record_rollback(record, ("program", "nodes", "mcp"))
    assert rolled.current is not None and rolled.current.bundle_id == "b" * 64
    assert rolled.previous is not None and rolled.previous.bundle_id == "a" * 64
    assert rolled.past == ()


def test_partial_rollback_marks_part() -> None:
    record = record_promotion(
        record_promotion(ReleaseRecord(environment="local"), release("a")),
        release("b"),
    )
    rolled = record_rollback(record, ("program",))
    assert rolled.current is not None
    assert rolled.current.bundle_id == "b" * 64
    assert rolled.current.programs == {"p": "a" * 64}
    assert rolled.current.node_release == "b" * 16
    assert rolled.current.rolled_back_parts == ("program",)


def test_rollback_without_previous_is_noop() -> None:
    record = record_promotion(ReleaseRecord(environment="local"), release("a"))
    assert record_rollback(record, ("program",)) == record


def test_record_round_trips_json() -> None:
    record = record_promotion(ReleaseRecord(environment="local"), release("a"))
    data = record.model_dump(mode="json")
    assert ReleaseRecord.model_validate(data) == record


def test_soak_requires_verified_current() -> None:
    staging = record_promotion(
        ReleaseRecord(environment="devnet"), release("a", verified=False)
    )
    assert soak_remaining_seconds(staging, "a" * 64, 0, NOW) is None


def test_soak_rejects_other_bundle() -> None:
    staging = record_promotion(ReleaseRecord(environment="devnet"), release("a"))
    assert soak_remaining_seconds(staging, "b" * 64, 0, NOW) is None


def test_soak_counts_down() -> None:
    staging = record_promotion(ReleaseRecord(environment="devnet"), release("a"))
    later = NOW + timedelta(seconds=600)
    assert soak_remaining_seconds(staging, "a" * 64, 3600, later) == 3000
    assert soak_remaining_seconds(staging, "a" * 64, 600, later) == 0


def test_soak_rejects_rolled_back_release() -> None:
    staging = record_promotion(
        record_promotion(ReleaseRecord(environment="devnet"), release("z")),
        release("a"),
    )
    staging = record_rollback(staging, ("nodes",))
    assert soak_remaining_seconds(staging, "a" * 64, 0, NOW) is None
