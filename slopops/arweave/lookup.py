"""Find transactions by owner and tags through a gateway's GraphQL API.

Only transactions signed by the given owner addresses count: anyone can
post data with the same tags. Gateways list pending transactions first with
``block: null``, and order inside one block is not by time, so results are
sorted here on a millisecond timestamp tag.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from slopops.arweave.gateway import Gateway

logger = logging.getLogger(__name__)

_PAGE_SIZE = 100
_QUERY = """
query Find($owners: [String!], $tags: [TagFilter!], $first: Int, $after: String) {
  transactions(owners: $owners, tags: $tags, first: $first, after: $after) {
    pageInfo { hasNextPage }
    edges {
      cursor
      node {
        id
        owner { address }
        tags { name value }
        data { size }
        block { height timestamp }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class FoundTransaction:
    """A transaction returned by a lookup."""

    transaction_id: str
    owner: str
    tags: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    block_height: int | None = None

    @property
    def pending(self) -> bool:
        """Whether the transaction is not yet in a block."""
        return self.block_height is None


def find_transactions(
    gateway: Gateway,
    *,
    owners: list[str],
    tags: Mapping[str, str],
    sort_tag: str,
    max_pages: int = 100,
) -> list[FoundTransaction]:
    """Return the transactions of ``owners`` that carry every tag, newest first.

    Args:
        gateway: The gateway to query.
        owners: Wallet addresses whose transactions count; must not be empty.
        tags: Tag names and the exact value each must have.
        sort_tag: Tag holding an integer timestamp to sort by, newest first.
        max_pages: Upper bound on GraphQL pages of 100 results.
    """
    if not owners:
        raise ValueError("owners is empty; pass the wallet address to trust")
    variables = {
        "owners": owners,
        "tags": [{"name": name, "values": [value]} for name, value in tags.items()],
        "first": _PAGE_SIZE,
        "after": None,
    }
    found: list[FoundTransaction] = []
    for _ in range(max_pages):
        page = gateway.graphql(_QUERY, variables)["transactions"]
        for edge in page["edges"]:
            transaction = _parse_node(edge["node"])
            # Check the owner again: a gateway that ignored the filter must
            # not let another wallet's data in.
            if transaction.owner in owners:
                found.append(transaction)
        if not page["pageInfo"]["hasNextPage"] or not page["edges"]:
            break
        variables["after"] = page["edges"][-1]["cursor"]
    found.sort(key=lambda item: _sort_key(item, sort_tag), reverse=True)
    logger.info("found %d transactions with tags %s", len(found), dict(tags))
    return found


def _parse_node(node: dict) -> FoundTransaction:
    block = node.get("block") or None
    return FoundTransaction(
        transaction_id=node["id"],
        owner=node["owner"]["address"],
        tags={tag["name"]: tag["value"] for tag in node.get("tags") or []},
        size_bytes=int((node.get("data") or {}).get("size") or 0),
        block_height=int(block["height"]) if block else None,
    )


def _sort_key(transaction: FoundTransaction, sort_tag: str) -> int:
    try:
        return int(transaction.tags.get(sort_tag, "0"))
    except ValueError:
        return 0
