"""``slopops approve`` and ``slopops runs``: approvals through the Prefect API.

Prefect has no CLI command to resume a paused run with input, so ``approve``
reads the run's approval form, fills it and resumes the run through the API.
The server validates the input against the form: a wrong bundle prefix or
an empty approver is rejected and the run keeps waiting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from uuid import UUID

import typer

_BINDING = re.compile(r"^\^([0-9a-f]+)\$$")


def register(app: typer.Typer) -> None:
    """Add ``approve`` and ``runs`` to the ``slopops`` command line."""
    app.command("approve")(approve)
    app.command("runs")(runs)


def approve(
    flow_run_id: str = typer.Argument(..., help="Id of the paused promotion run."),
    approver: str = typer.Option(
        ..., "--approver", help="Your name, for the audit log."
    ),
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approve."),
    reason: str = typer.Option("", "--reason", help="Why, in a sentence."),
    bundle: str | None = typer.Option(
        None,
        "--bundle",
        help="First 8 characters of the bundle id you approve; default: the "
        "run's own bundle, printed before resuming.",
    ),
) -> None:
    """Approve or reject a promotion that waits for approval."""
    from prefect.exceptions import ObjectNotFound

    run_id = _parse_id(flow_run_id)
    api_url = require_api_url()
    with _prefect_client(api_url) as client:
        try:
            flow_run = client.read_flow_run(run_id)
        except ObjectNotFound:
            _fail(
                f"flow run {flow_run_id!r} was not found on the Prefect server at "
                f"{api_url}; copy the id from `slopops runs`"
            )
        if flow_run.state is None or not flow_run.state.is_paused():
            state = flow_run.state.name if flow_run.state else "unknown"
            _fail(f"flow run {flow_run_id!r} is {state}, not waiting for approval")
        schema, description = _form(client, flow_run)
        prefix = bundle or _bound_prefix(schema)
        if description:
            typer.echo(description)
        run_input = {
            "approver": approver,
            "decision": "reject" if reject else "approve",
            "reason": reason,
            "bundle": prefix,
        }
        result = client.resume_flow_run(run_id, run_input=run_input)
    if result.status.value != "ACCEPT":
        reason_text = result.details.reason if result.details else "no reason given"
        _fail(f"the server rejected the input for run {flow_run_id!r}: {reason_text}")
    verb = "rejected" if reject else "approved"
    typer.echo(f"{verb} bundle {prefix} for run {flow_run_id} as {approver}")


def _form(client: Any, flow_run: Any) -> tuple[dict[str, Any], str | None]:
    keyset = flow_run.state.state_details.run_input_keyset
    if not keyset:
        _fail(f"flow run {flow_run.id} is paused but asks for no input")
    schema = json.loads(client.read_flow_run_input(flow_run.id, keyset["schema"]))
    try:
        description = client.read_flow_run_input(flow_run.id, keyset["description"])
    except Exception:  # noqa: BLE001 - a form may have no description
        description = None
    if description and description.startswith('"'):
        description = json.loads(description)
    return schema, description


def _bound_prefix(schema: dict[str, Any]) -> str:
    pattern = schema.get("properties", {}).get("bundle", {}).get("pattern", "")
    match = _BINDING.match(pattern)
    if match is None:
        _fail("the run's approval form names no bundle; pass --bundle")
    return match.group(1)


def runs() -> None:
    """List flow runs that wait for approval, with their UI links."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_UI_URL

    api_url = require_api_url()
    state_filter = FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.PAUSED])
    )
    with _prefect_client(api_url) as client:
        waiting = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=state_filter)
        )
    if not waiting:
        typer.echo("no flow run waits for approval")
        return
    ui_url = (PREFECT_UI_URL.value() or "").rstrip("/")
    for flow_run in waiting:
        bundle = flow_run.parameters.get("bundle", "")
        environment = flow_run.parameters.get("environment", "")
        link = f"{ui_url}/runs/flow-run/{flow_run.id}" if ui_url else ""
        typer.echo(
            f"{flow_run.id}  {flow_run.name}  {environment}  bundle {str(bundle)[:12]}"
            f"  {link}"
        )


def require_api_url() -> str:
    """Return the Prefect API URL, or exit 2 when neither env nor profile sets it.

    Without a URL the Prefect client starts a throwaway server with an empty
    database and reports no runs, which hides the mistake. The setting reads
    ``PREFECT_API_URL`` from the environment first, then the active profile.
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        _fail(
            "PREFECT_API_URL is not set; point it at your Prefect server, e.g. "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api",
            code=2,
        )
    return str(url)


@contextmanager
def _prefect_client(api_url: str) -> Iterator[Any]:
    """Open a synchronous Prefect client; exit 1 when the server is unreachable."""
    import httpx
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            yield client
    except httpx.TransportError as exc:
        _fail(
            f"cannot reach the Prefect server at {api_url} ({exc}); start it with "
            "`slopops stack up` or correct PREFECT_API_URL"
        )


def _parse_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        _fail(f"invalid flow run id {value!r}; copy it from `slopops runs`")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)
