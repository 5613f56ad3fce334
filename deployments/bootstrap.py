"""Register slopmachine-ops with a Prefect server.

Creates what the flows expect on the server, then deploys every flow:

- the process work pool ``slopops-process``;
- one global concurrency limit of 1 per environment (``deploy-<env>``), which
  promotions and rollbacks hold around their deploy steps;
- an empty release-record Variable per environment, unless one exists;
- a Secret block ``fly-api-token-<env>`` for each environment whose token is
  in the variable ``SLOPOPS_FLY_API_TOKEN_<ENV>`` (``MAINNET_BETA`` for
  mainnet-beta), for workers that keep no token file;
- every deployment of ``deployments/prefect.yaml``, through ``prefect deploy``.

Run it with ``PREFECT_API_URL`` set; running it again changes nothing that
exists, except that the deployments are updated.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.variables import Variable
from prefect.workers.process import ProcessWorker

WORKSPACE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(WORKSPACE))

from config import ENVIRONMENTS  # noqa: E402
from flows.common import fly_token_block_name  # noqa: E402
from tasks.records import record_variable_name  # noqa: E402

POOL_NAME = "slopops-process"
PREFECT_FILE = WORKSPACE / "deployments" / "prefect.yaml"

logger = logging.getLogger("bootstrap")


def create_pool() -> None:
    """Create the process work pool unless it exists."""
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(
                WorkPoolCreate(
                    name=POOL_NAME, type="process", base_job_template=template
                )
            )
            logger.info("created work pool %s", POOL_NAME)
        except ObjectAlreadyExists:
            logger.info("work pool %s exists", POOL_NAME)


def create_limits() -> None:
    """Create the per-environment deploy concurrency limits (1 slot each)."""
    with get_client(sync_client=True) as client:
        for environment in ENVIRONMENTS:
            name = f"deploy-{environment}"
            client.upsert_global_concurrency_limit_by_name(name, 1)
            logger.info("concurrency limit %s has 1 slot", name)


def create_variables() -> None:
    """Create an empty release record per environment unless one exists."""
    for environment in ENVIRONMENTS:
        name = record_variable_name(environment)
        if Variable.get(name, default=None) is None:
            Variable.set(
                name,
                {"environment": environment},
                tags=["release-record", environment],
            )
            logger.info("created variable %s", name)


def create_blocks() -> None:
    """Store each Fly API token found in the environment as a Secret block."""
    for environment in ENVIRONMENTS:
        variable = "SLOPOPS_FLY_API_TOKEN_" + environment.upper().replace("-", "_")
        token = os.environ.get(variable)
        if not token:
            continue
        name = fly_token_block_name(environment)
        Secret(value=token).save(name, overwrite=True)
        logger.info("stored %s in Secret block %s", variable, name)


def deploy_all(workspace: Path) -> None:
    """Run ``prefect deploy --all`` on this checkout's prefect.yaml."""
    prefect = Path(sys.executable).parent / "prefect"
    env = {**os.environ, "SLOPOPS_WORKSPACE": str(workspace)}
    command = [
        str(prefect),
        "--no-prompt",
        "deploy",
        "--all",
        "--prefect-file",
        str(PREFECT_FILE),
    ]
    logger.info("running %s", " ".join(command))
    subprocess.run(command, cwd=workspace, env=env, check=True)


def main(argv: list[str] | None = None) -> None:
    """Create the pool, limits and variables, then deploy every flow."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-deploy", action="store_true", help="Do not run prefect deploy."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if not os.environ.get("PREFECT_API_URL"):
        sys.exit("PREFECT_API_URL is not set; point it at the Prefect server's /api")
    create_pool()
    create_limits()
    create_variables()
    create_blocks()
    if not args.skip_deploy:
        deploy_all(WORKSPACE)


if __name__ == "__main__":
    main()
