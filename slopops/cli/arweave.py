"""``slopops arweave``: create a wallet and check its balance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config import ProfileError, load_settings
from slopops.cli.options import ConfigDirOption, EnvOption
from slopops.errors import SlopopsError

app = typer.Typer(help="Manage the Arweave wallet of backups.", no_args_is_help=True)


_WINSTON_PER_AR = 10**12


@app.command()
def keygen(
    env: EnvOption,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Wallet file (default: arweave.wallet_path)."
        ),
    ] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Generate a new RSA-4096 wallet (mode 0600) and print its address."""
    from slopops.arweave import generate_wallet

    try:
        settings = load_settings(env, config_dir)
        path = output or settings.resolve(settings.arweave.wallet_path)
        wallet = generate_wallet(path)
    except (ProfileError, SlopopsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"wallet {wallet.address} written to {path}")


@app.command()
def balance(env: EnvOption, config_dir: ConfigDirOption = None) -> None:
    """Print the wallet's address and balance on the environment's gateway."""
    from slopops.arweave import Gateway, load_wallet

    try:
        settings = load_settings(env, config_dir)
        wallet = load_wallet(settings.resolve(settings.arweave.wallet_path))
        with Gateway(
            str(settings.arweave.gateway_url),
            timeout_seconds=settings.arweave.chunk_timeout_seconds,
        ) as gateway:
            winston = gateway.balance_winston(wallet.address)
    except (ProfileError, SlopopsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{wallet.address}: {winston} winston ({winston / _WINSTON_PER_AR:.12f} AR) "
        f"on {settings.arweave.gateway_url}"
    )
