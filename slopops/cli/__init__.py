"""The ``slopops`` command line: one sub-command group per engine.

Only this package may import Prefect (for ``approve`` and ``runs``), and only
inside the commands that need it; the engines never do.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from slopops.errors import SlopopsError

app = typer.Typer(
    name="slopops",
    help="Operate slopmachine releases, rollbacks, backups and the local stack.",
    no_args_is_help=True,
)

# Each group module defines ``app`` (a typer.Typer), mounted under the key.
_GROUPS = {
    "config": "slopops.cli.config",
    "localnet": "slopops.cli.localnet",
    "stack": "slopops.cli.stack",
    "program": "slopops.cli.program",
    "backup": "slopops.cli.backup",
    "arweave": "slopops.cli.arweave",
    "nodes": "slopops.cli.nodes",
    "mcp": "slopops.cli.mcp",
}

# Each command module defines ``register(app)``, adding top-level commands.
_COMMANDS = ["slopops.cli.runs", "slopops.cli.demo"]


def _import_optional(module_name: str) -> object | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # A module not written yet is left out of --help; a broken import is not.
        if exc.name != module_name:
            raise
        return None


def _mount() -> None:
    for name, module_name in _GROUPS.items():
        module = _import_optional(module_name)
        if module is not None:
            app.add_typer(module.app, name=name)  # type: ignore[attr-defined]
    for module_name in _COMMANDS:
        module = _import_optional(module_name)
        if module is not None:
            module.register(app)  # type: ignore[attr-defined]


# Root options that main() reads after the command has run.
_options = {"verbose": False}


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG."),
) -> None:
    _options["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request and paramiko every SSH session at INFO, which
    # buries the commands' own lines.
    for noisy in ("httpx", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


_mount()


def main(args: list[str] | None = None) -> None:
    """Run the ``slopops`` command line.

    A deliberate error (:class:`SlopopsError`, which includes config's
    ``ProfileError``) that a command leaves uncaught is printed as one
    ``error:`` line with exit status 1. With ``--verbose`` it keeps its
    traceback, and any other exception always does, because it is a bug.
    """
    _options["verbose"] = False
    try:
        app(args=args, prog_name="slopops")
    except SlopopsError as exc:
        if _options["verbose"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
