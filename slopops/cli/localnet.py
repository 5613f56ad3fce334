"""``slopops localnet``: run the local Solana chain in the foreground."""

from __future__ import annotations

import logging

import typer

from slopops.localnet.server import DEFAULT_HOST, DEFAULT_PORT, serve

app = typer.Typer(
    help="Run a local Solana JSON-RPC chain over LiteSVM.",
    invoke_without_command=True,
)


@app.callback()
def localnet(
    port: int = typer.Option(
        DEFAULT_PORT, min=1, max=65535, help="TCP port of the JSON-RPC server."
    ),
    seed: str = typer.Option(
        "local",
        help="Chain seed, which sets the genesis hash (local, devnet, mainnet-beta).",
    ),
    host: str = typer.Option(
        DEFAULT_HOST, help="Address to bind; keep the loopback default."
    ),
) -> None:
    """Serve a local chain until interrupted. Its state lives in memory only."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    serve(seed, host=host, port=port)
