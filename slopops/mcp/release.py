"""Release the MCP server on Fly Machines: one machine at a time, then verify.

A deploy records every machine's config, then updates the machines to the new
image one by one. Each must reach ``started`` and pass its health checks
before the next one starts. The public health URL is probed at the end. Any
failure puts the recorded configs, and so the recorded images, back on every
machine touched. Afterwards all machines run one image and at least
``min_running`` of them are started, or the report's error gives the reason.

The release record (the same one the nodes keep, with images for releases) is
stored in each machine's ``config.metadata`` under ``slopops_release_record``,
so a rollback needs only the API. A deploy writes the record it expects to be
true on success together with the new image; restoring a failed deploy's
configs restores the old record too.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from config.settings import McpSettings, check_private_file
from slopops.errors import TransientError
from slopops.fleet.records import LastDeploy, ReleaseRecord, plan_rollback
from slopops.mcp.errors import (
    MachineNotHealthyError,
    McpError,
    McpInvariantError,
    MissingTokenError,
    NoKnownGoodImageError,
    NoMachinesError,
    PublicHealthError,
)
from slopops.mcp.fly import Machine, MachinesClient
from slopops.mcp.report import MachineOutcome, McpReport

logger = logging.getLogger(__name__)

RECORD_KEY = "slopops_release_record"


def load_token(mcp: McpSettings, resolve: Callable[[Path], Path] = Path) -> str:
    """Return the Fly API token from the settings value or its file.

    Raises:
        MissingTokenError: Neither is set.
        ValueError: The token file is readable by group or others.
    """
    if mcp.fly_api_token is not None:
        return mcp.fly_api_token.get_secret_value()
    if mcp.fly_api_token_file is not None:
        path = resolve(mcp.fly_api_token_file.expanduser())
        check_private_file(path, "mcp.fly_api_token_file")
        if path.is_file():
            return path.read_text().strip()
    raise MissingTokenError(mcp.fly_app or "")


class FlyRelease:
    """Deploy, roll back and inspect the MCP server's Fly machines.

    Args:
        client: Machines API client of the app.
        mcp: MCP settings: minimum running machines, health timeout, public URL.
        poll_seconds: Interval between machine and public health polls.
    """

    def __init__(
        self, client: MachinesClient, mcp: McpSettings, poll_seconds: float = 1.0
    ) -> None:
        self.client = client
        self.mcp = mcp
        self.app = client.app
        self.poll_seconds = poll_seconds

    def deploy(self, image: str) -> McpReport:
        """Update every machine to ``image``; restore all recorded images on failure."""
        machines = self._machines()
        report = McpReport("deploy", self.app, image)
        recorded = {machine.id: machine.config for machine in machines}
        record = _read_record(machines)
        one_image = len({machine.image for machine in machines}) == 1
        if not record.known_good and one_image and all(map(_healthy, machines)):
            # The image running before the first recorded deploy is healthy now.
            record.mark_healthy(machines[0].image)
        record.last_deploy = LastDeploy(image, record.current, True, "healthy")
        record.current = image
        record.mark_healthy(image)
        touched: list[Machine] = []
        try:
            for machine in machines:
                touched.append(machine)
                # NOTE: if this process dies before the restore, the machines
                # keep a record that already counts ``image`` as known good.
                self._replace(machine, image, record)
            self._probe_public()
            self._check_invariant(image)
        except (McpError, TransientError) as exc:
            logger.error("fly app %s: deploy of %s failed: %s", self.app, image, exc)
            report.error = str(exc)
            report.restored = self._restore(touched, recorded, report)
        else:
            report.ok = True
        report.machines = self._outcomes(machines)
        return report

    def rollback(self) -> McpReport:
        """Put the last known good image back on every machine.

        Raises:
            NoKnownGoodImageError: No known good image other than the current.
        """
        machines = self._machines()
        record = _read_record(machines)
        plan = plan_rollback(record)
        if plan is None:
            raise NoKnownGoodImageError(self.app, record.current)
        report = McpReport("rollback", self.app, plan.target, detail=plan.reason)
        if plan.target is None:
            report.ok = True
            report.image = record.current
            report.machines = self._outcomes(machines)
            return report
        if plan.mark_bad:
            record.mark_bad(plan.mark_bad)
        if record.last_deploy is not None:
            record.last_deploy.outcome = "rolled_back"
        record.current = plan.target
        try:
            for machine in machines:
                self._replace(machine, plan.target, record)
            self._probe_public()
            self._check_invariant(plan.target)
        except (McpError, TransientError) as exc:
            logger.error("fly app %s: rollback failed: %s", self.app, exc)
            report.error = str(exc)
        else:
            report.ok = True
        report.machines = self._outcomes(machines)
        return report

    def status(self) -> McpReport:
        """Report each machine's image, state and checks, and the invariant."""
        machines = self._machines()
        images = Counter(machine.image for machine in machines)
        report = McpReport("status", self.app, images.most_common(1)[0][0])
        report.detail = f"last known good {_read_record(machines).last_known_good!r}"
        try:
            self._check_invariant(report.image or "")
            report.ok = True
        except McpInvariantError as exc:
            report.error = str(exc)
        report.machines = self._outcomes(machines)
        return report

    # -- steps -------------------------------------------------------------

    def _machines(self) -> list[Machine]:
        machines = self.client.list_machines()
        if not machines:
            raise NoMachinesError(self.app)
        return sorted(machines, key=lambda machine: machine.id)

    def _replace(self, machine: Machine, image: str, record: ReleaseRecord) -> None:
        config = copy.deepcopy(machine.config)
        config["image"] = image
        config["metadata"] = {
            **(config.get("metadata") or {}),
            RECORD_KEY: record.to_json(),
        }
        self._apply(machine.id, config)

    def _apply(self, machine_id: str, config: dict[str, Any]) -> None:
        image = str(config.get("image"))
        updated = self.client.update_machine(machine_id, config)
        timeout = self.mcp.health_timeout_seconds
        if not self.client.wait_for_state(
            machine_id, "started", updated.instance_id, timeout
        ):
            raise MachineNotHealthyError(
                machine_id, image, f"not 'started' after {timeout:g} s"
            )
        self._wait_checks(machine_id, image, time.monotonic() + timeout)

    def _wait_checks(self, machine_id: str, image: str, deadline: float) -> None:
        while True:
            machine = self.client.get_machine(machine_id)
            if machine.state == "started" and machine.checks_passing:
                logger.info("fly machine %s is healthy on %s", machine_id, image)
                return
            if time.monotonic() >= deadline:
                failing = ", ".join(machine.failing_checks) or "none reported"
                raise MachineNotHealthyError(
                    machine_id,
                    image,
                    f"state {machine.state!r}, failing checks: {failing}",
                )
            time.sleep(self.poll_seconds)

    def _probe_public(self) -> None:
        if self.mcp.public_health_url is None:
            logger.warning("fly app %s: no public_health_url; probe skipped", self.app)
            return
        url = str(self.mcp.public_health_url)
        deadline = time.monotonic() + self.mcp.health_timeout_seconds
        reason = "no answer"
        while time.monotonic() < deadline:
            try:
                response = httpx.get(url, timeout=10)
                if response.status_code == 200:
                    logger.info("fly app %s: public health %s is 200", self.app, url)
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            time.sleep(self.poll_seconds)
        raise PublicHealthError(url, reason)

    def _check_invariant(self, image: str) -> None:
        machines = self.client.list_machines()
        images = sorted({machine.image for machine in machines})
        if images != [image]:
            raise McpInvariantError(self.app, f"machines run images {images!r}")
        started = sum(machine.state == "started" for machine in machines)
        if started < self.mcp.min_running:
            raise McpInvariantError(
                self.app,
                f"{started} machines started, fewer than min_running "
                f"{self.mcp.min_running}",
            )

    def _restore(
        self,
        touched: list[Machine],
        recorded: dict[str, dict[str, Any]],
        report: McpReport,
    ) -> bool:
        logger.warning(
            "fly app %s: restoring %d machines to their recorded images",
            self.app,
            len(touched),
        )
        try:
            for machine in reversed(touched):
                self._apply(machine.id, recorded[machine.id])
            images = {str(config.get("image")) for config in recorded.values()}
            if len(images) == 1:
                self._check_invariant(images.pop())
        except (McpError, TransientError) as exc:
            logger.error("fly app %s: restore failed: %s", self.app, exc)
            report.error = f"{report.error}; restore failed: {exc}"
            return False
        return True

    def _outcomes(self, before: list[Machine]) -> list[MachineOutcome]:
        after = {machine.id: machine for machine in self.client.list_machines()}
        outcomes = []
        for machine in before:
            now = after.get(machine.id, machine)
            health = "healthy" if now.checks_passing else "unhealthy"
            outcomes.append(
                MachineOutcome(
                    machine.id,
                    machine.name,
                    machine.image,
                    now.image,
                    now.state,
                    health,
                )
            )
        return outcomes


def _healthy(machine: Machine) -> bool:
    return machine.state == "started" and machine.checks_passing


def _read_record(machines: list[Machine]) -> ReleaseRecord:
    """Return the record stored on the machines, or one built from their image.

    Machines normally carry the same record. When none has one, as before
    the first deploy through slopops, the image most machines run becomes
    current. The deploy counts it as known good only if every machine is
    healthy.
    """
    texts = Counter(
        str((machine.config.get("metadata") or {}).get(RECORD_KEY) or "")
        for machine in machines
    )
    texts.pop("", None)
    if texts:
        text, _ = texts.most_common(1)[0]
        try:
            return ReleaseRecord.from_json(text)
        except (ValueError, TypeError):
            logger.warning("machines carry an unreadable release record; ignoring it")
    image = Counter(machine.image for machine in machines).most_common(1)[0][0]
    return ReleaseRecord(current=image)
