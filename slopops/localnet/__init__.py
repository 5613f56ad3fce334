"""A local Solana chain: a JSON-RPC server over solders' LiteSVM.

``slopops localnet --port 8899 --seed local`` runs it; :func:`start_localnet`
starts it as a subprocess for the local stack and the tests.
"""

from slopops.localnet.bank import Bank, genesis_hash_for
from slopops.localnet.launch import start_localnet

__all__ = ["Bank", "genesis_hash_for", "start_localnet"]
