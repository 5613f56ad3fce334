"""Run the local chain: ``python -m slopops.localnet --port 8899 --seed local``."""

from slopops.cli.localnet import app

app(prog_name="python -m slopops.localnet")
