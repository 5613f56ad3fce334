"""Helpers shared by the flows: settings, the bundle store, run links."""

from __future__ import annotations

from pathlib import Path

from prefect.blocks.system import Secret
from prefect.runtime import flow_run
from prefect.settings import PREFECT_UI_URL
from pydantic import SecretStr

from config import Settings, load_settings
from slopops.bundles import Bundle, resolve_bundle

# Deployment names use the short "mainnet"; profiles use the cluster name.
ENVIRONMENT_ALIASES = {"mainnet": "mainnet-beta"}


def settings_for(environment: str) -> Settings:
    """Load the profile of ``environment`` (``mainnet`` means mainnet-beta).

    A Fly API token stored in the Secret block ``fly-api-token-<environment>``
    (created by deployments/bootstrap.py) is used when the profile sets none.
    """
    settings = load_settings(ENVIRONMENT_ALIASES.get(environment, environment))
    mcp = settings.mcp
    if mcp.mode != "fly" or mcp.fly_api_token or mcp.fly_api_token_file:
        return settings
    token = _secret_block(fly_token_block_name(settings.environment))
    if token is None:
        return settings
    update = {"fly_api_token": SecretStr(token)}
    return settings.model_copy(update={"mcp": mcp.model_copy(update=update)})


def fly_token_block_name(environment: str) -> str:
    """Return the Secret block that holds ``environment``'s Fly API token."""
    return f"fly-api-token-{environment}"


def _secret_block(name: str) -> str | None:
    try:
        return str(Secret.load(name).get())
    except ValueError:
        # Secret.load raises ValueError when no block has this name.
        return None


def bundle_store_dir(settings: Settings) -> Path:
    """Return the bundle store shared by every environment of a workspace."""
    return settings.resolve(Path(".state/bundles"))


def load_bundle(reference: str, settings: Settings) -> Bundle:
    """Return the verified bundle named by an id or a directory."""
    return resolve_bundle(reference, bundle_store_dir(settings))


def current_run_id() -> str | None:
    """Return the id of the flow run this code runs in, if any."""
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def run_url(flow_run_id: str) -> str | None:
    """Return the UI link of a flow run, when the UI URL is known."""
    ui_url = PREFECT_UI_URL.value()
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui_url else None
