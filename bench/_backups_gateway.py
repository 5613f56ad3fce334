"""A minimal Arweave gateway for the backup benchmark, on 127.0.0.1.

It accepts any signed transaction without checking it, confirms it at once,
and writes chunk payloads to one file per transaction under a directory, so
that the backup's read-back and the restore can download them again. Its
GraphQL endpoint supports only what the backup lookup sends: owners and
exact tag values. Prices are 1 winston per byte and every balance is 10^18 winston.

Run: ``python -m bench._backups_gateway --port PORT --data-dir DIR``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from slopops.arweave.transactions import b64url_decode, chunk_ranges, decode_tags

BALANCE_WINSTON = 10**18


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Store:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self.transactions: dict[str, dict[str, Any]] = {}
        self.by_root: dict[str, str] = {}
        self.weave_end = 0

    def add(self, transaction: dict[str, Any]) -> None:
        with self.lock:
            size = int(transaction["data_size"])
            transaction["_start"] = self.weave_end
            self.weave_end += size
            transaction["_order"] = len(self.transactions)
            self.transactions[transaction["id"]] = transaction
            self.by_root[transaction["data_root"]] = transaction["id"]
        (self.data_dir / transaction["id"]).touch()

    def write_chunk(self, body: dict[str, str]) -> None:
        transaction_id = self.by_root[body["data_root"]]
        data = b64url_decode(body["chunk"])
        start = int(body["offset"]) + 1 - len(data)
        with open(self.data_dir / transaction_id, "r+b") as handle:
            handle.seek(start)
            handle.write(data)

    def chunk_at(self, offset: int) -> bytes:
        for transaction in self.transactions.values():
            start = transaction["_start"]
            size = int(transaction["data_size"])
            if start <= offset < start + size:
                position = offset - start
                if "_ranges" not in transaction:
                    transaction["_ranges"] = chunk_ranges(size)
                for first, last in transaction["_ranges"]:
                    if first <= position < last:
                        with open(self.data_dir / transaction["id"], "rb") as handle:
                            handle.seek(position)
                            return handle.read(last - position)
        raise KeyError(offset)


def _owner_address(owner: str) -> str:
    import hashlib

    return _b64url_encode(hashlib.sha256(b64url_decode(owner)).digest())


def _graphql(store: _Store, variables: dict[str, Any]) -> dict[str, Any]:
    owners = set(variables.get("owners") or [])
    filters = variables.get("tags") or []
    edges = []
    for transaction in sorted(
        store.transactions.values(), key=lambda item: item["_order"], reverse=True
    ):
        tags = decode_tags(transaction["tags"])
        address = _owner_address(transaction["owner"])
        if owners and address not in owners:
            continue
        if any(tags.get(item["name"]) not in item["values"] for item in filters):
            continue
        node = {
            "id": transaction["id"],
            "owner": {"address": address},
            "tags": [{"name": k, "value": v} for k, v in tags.items()],
            "data": {"size": transaction["data_size"]},
            "block": {"height": 1, "timestamp": 0},
        }
        edges.append({"cursor": transaction["id"], "node": node})
    return {
        "data": {"transactions": {"pageInfo": {"hasNextPage": False}, "edges": edges}}
    }


def _handler(store: _Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm
        # and delayed ACKs each response would stall about 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes | str | dict[str, Any]) -> None:
            if isinstance(body, dict):
                body = json.dumps(body)
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = self.path.strip("/").split("/")
            if parts[0] == "info":
                self._send(200, {"network": "bench-gateway"})
            elif parts[0] == "price":
                self._send(200, str(int(parts[1])))
            elif parts[0] == "wallet":
                self._send(200, str(BALANCE_WINSTON))
            elif parts[0] == "tx_anchor":
                self._send(200, _b64url_encode(os.urandom(32)))
            elif parts[0] == "tx" and len(parts) == 3 and parts[2] == "status":
                known = parts[1] in store.transactions
                body = {"block_height": 1, "number_of_confirmations": 1}
                self._send(200 if known else 404, body if known else "Not Found")
            elif parts[0] == "tx" and len(parts) == 3 and parts[2] == "offset":
                transaction = store.transactions[parts[1]]
                size = int(transaction["data_size"])
                end = transaction["_start"] + size - 1
                self._send(200, {"offset": str(end), "size": str(size)})
            elif parts[0] == "chunk":
                self._send(
                    200, {"chunk": _b64url_encode(store.chunk_at(int(parts[1])))}
                )
            else:
                self._send(404, "Not Found")

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            if self.path == "/tx":
                store.add(body)
                self._send(200, "OK")
            elif self.path == "/chunk":
                store.write_chunk(body)
                self._send(200, "{}")
            elif self.path == "/graphql":
                self._send(200, _graphql(store, body.get("variables") or {}))
            else:
                self._send(404, "Not Found")

    return Handler


def main() -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), _handler(_Store(args.data_dir))
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
