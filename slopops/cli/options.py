"""Options that several ``slopops`` command groups share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config import ENVIRONMENTS

EnvOption = Annotated[
    str, typer.Option("--env", "-e", help=f"Environment: {', '.join(ENVIRONMENTS)}.")
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option("--config-dir", help="Directory of the <env>.toml profiles."),
]
