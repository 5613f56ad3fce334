"""Read and write the release record of an environment in a Prefect Variable."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.variables import Variable

from slopops.bundles import ReleaseRecord


def record_variable_name(environment: str) -> str:
    """Return the Variable that holds ``environment``'s release record."""
    return f"release-record-{environment}"


# A record changes between reads in one run (after the deploy lock), so no caching.
@task(name="read-release-record", cache_policy=NO_CACHE)
def read_record(environment: str) -> ReleaseRecord:
    """Return the environment's release record; an empty one when none exists."""
    value = Variable.get(record_variable_name(environment), default=None)
    if value is None:
        return ReleaseRecord(environment=environment)
    return ReleaseRecord.model_validate(value)


@task(name="write-release-record", cache_policy=NO_CACHE)
def write_record(record: ReleaseRecord) -> None:
    """Overwrite the environment's release record."""
    Variable.set(
        record_variable_name(record.environment),
        record.model_dump(mode="json"),
        overwrite=True,
        tags=["release-record", record.environment],
    )
    current = record.current.bundle_id[:12] if record.current else None
    get_run_logger().info(
        "release record of %s now has current bundle %s", record.environment, current
    )
