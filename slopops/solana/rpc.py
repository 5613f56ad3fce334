"""Solana JSON-RPC over httpx, with failover between endpoints.

Every call has a timeout. A call that times out, gets HTTP 5xx or 429, or cannot
connect moves to the next endpoint. A failed endpoint goes to the back of the
line for ``cooldown_seconds``; a rate-limited one (429) is not called again
before its ``Retry-After`` has passed.

``sendTransaction`` fails over only when the request surely did not reach a
node (connection refused, 429). After a timeout or a 5xx its status is
unknown, and the caller checks ``getSignatureStatuses`` before it sends again
(see :mod:`slopops.solana.transactions`).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature

from config.settings import RpcSettings
from slopops.errors import SlopopsError
from slopops.solana.errors import (
    PreflightFailedError,
    RpcResponseError,
    RpcUnavailableError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# JSON-RPC errors of a node that is behind or unhealthy: another node may succeed.
_NODE_UNHEALTHY_CODES = {-32004, -32005, -32014, -32016}
_PREFLIGHT_FAILURE_CODE = -32002
# getSignatureStatuses accepts at most 256 signatures per call.
_MAX_STATUSES_PER_CALL = 256


@dataclass(frozen=True)
class AccountInfo:
    """An account as getAccountInfo returns it, with its data decoded."""

    lamports: int
    owner: Pubkey
    data: bytes
    executable: bool


@dataclass(frozen=True)
class LatestBlockhash:
    """A blockhash and the last block height at which it is still valid."""

    blockhash: Hash
    last_valid_block_height: int


@dataclass(frozen=True)
class SignatureStatus:
    """A transaction's status from getSignatureStatuses."""

    slot: int
    err: Any
    confirmation_status: str | None


class _RedactQuery(logging.Filter):
    """Remove query strings (where the RPC API key travels) from httpx's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _redact(str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


# httpx logs every request URL at INFO, and the API key is a query parameter.
logging.getLogger("httpx").addFilter(_RedactQuery())


class _EndpointFailure(Exception):
    """One endpoint failed in a way another endpoint may not."""

    def __init__(
        self, reason: str, retry_after_seconds: float | None = None, sent: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds
        # False when the request surely never reached a node.
        self.sent = sent


class RpcClient:
    """A JSON-RPC client over a primary endpoint and ordered fallbacks.

    Args:
        urls: The primary endpoint first, then fallbacks.
        timeout_seconds: Timeout of each HTTP request.
        commitment: Commitment used by reads and confirmations.
        api_key: Sent as the ``api-key`` query parameter, never logged.
        cooldown_seconds: How long other endpoints are preferred to one that
            failed.
        max_retry_after_seconds: Upper bound on a ``Retry-After`` wait.
        rounds: How many times a call may go through the endpoint list.
        transport: An httpx transport, for tests.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout_seconds: float = 10.0,
        commitment: str = "confirmed",
        api_key: str | None = None,
        cooldown_seconds: float = 5.0,
        max_retry_after_seconds: float = 30.0,
        rounds: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("RpcClient needs at least one endpoint URL")
        self.urls = [str(url) for url in urls]
        self.commitment = commitment
        self.cooldown_seconds = cooldown_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.rounds = rounds
        self._params = {"api-key": api_key} if api_key else None
        self._cooling_until = [0.0] * len(self.urls)
        self._rate_limited_until = [0.0] * len(self.urls)
        self._ids = itertools.count(1)
        self._batches_supported = True
        self._http = httpx.AsyncClient(
            timeout=timeout_seconds,
            transport=transport,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    @classmethod
    def from_settings(cls, rpc: RpcSettings, **kwargs: Any) -> RpcClient:
        """Build a client from a profile's ``[rpc]`` section."""
        api_key = None
        if rpc.api_key is not None:
            api_key = rpc.api_key.get_secret_value()
        elif rpc.api_key_file is not None:
            api_key = rpc.api_key_file.expanduser().read_text().strip()
        return cls(
            rpc.urls,
            timeout_seconds=rpc.timeout_seconds,
            commitment=rpc.commitment,
            api_key=api_key,
            **kwargs,
        )

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    @property
    def endpoints(self) -> list[str]:
        """The endpoint URLs without query strings, safe to log."""
        return [_redact(url) for url in self.urls]

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """Call ``method`` and return its ``result``, failing over on errors.

        Raises:
            RpcUnavailableError: Every endpoint failed ``rounds`` times.
            RpcResponseError: An endpoint returned a JSON-RPC error object.
        """
        return await self._call(method, params or [], failover_after_send=True)

    async def _call(
        self, method: str, params: list[Any], *, failover_after_send: bool
    ) -> Any:
        payload = self._payload(method, params)

        async def attempt(index: int) -> Any:
            return self._result(method, await self._exchange(index, payload, method))

        return await self._with_failover(method, attempt, failover_after_send)

    def _payload(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": params,
        }

    async def _with_failover(
        self,
        method: str,
        attempt: Callable[[int], Awaitable[T]],
        failover_after_send: bool,
    ) -> T:
        last_reason = "no attempt"
        for _ in range(self.rounds * len(self.urls)):
            index = await self._next_endpoint()
            try:
                return await attempt(index)
            except _EndpointFailure as failure:
                last_reason = failure.reason
                self._block(index, failure)
                if failure.sent and not failover_after_send:
                    break
        raise RpcUnavailableError(method, self.endpoints, last_reason)

    async def _next_endpoint(self) -> int:
        """Return the endpoint to try next.

        The first endpoint not cooling down wins. When all are cooling down,
        the one that failed longest ago and is not rate limited is tried.
        Only when every endpoint is rate limited does the call wait for the
        earliest ``Retry-After`` to pass.
        """
        now = time.monotonic()
        for index, until in enumerate(self._cooling_until):
            if until <= now:
                return index
        allowed = [i for i, t in enumerate(self._rate_limited_until) if t <= now]
        if allowed:
            return min(allowed, key=self._cooling_until.__getitem__)
        index = min(range(len(self.urls)), key=self._rate_limited_until.__getitem__)
        wait = min(self._rate_limited_until[index] - now, self.max_retry_after_seconds)
        logger.debug("every RPC endpoint is rate limited; waiting %.2f s", wait)
        await asyncio.sleep(wait)
        return index

    def _block(self, index: int, failure: _EndpointFailure) -> None:
        now = time.monotonic()
        seconds = failure.retry_after_seconds
        if seconds is not None:
            seconds = min(seconds, self.max_retry_after_seconds)
            self._rate_limited_until[index] = now + seconds
        else:
            seconds = self.cooldown_seconds
        self._cooling_until[index] = now + seconds
        logger.debug(
            "RPC endpoint %s failed (%s); trying others first for %.1f s",
            self.endpoints[index],
            failure.reason,
            seconds,
        )

    async def _exchange(self, index: int, payload: Any, method: str) -> Any:
        """POST ``payload`` to endpoint ``index`` and return the decoded body."""
        try:
            response = await self._http.post(
                self.urls[index], json=payload, params=self._params
            )
        except httpx.ConnectError as exc:
            raise _EndpointFailure(f"connection failed: {exc}", sent=False) from exc
        except httpx.TimeoutException as exc:
            raise _EndpointFailure(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _EndpointFailure(f"transport error: {exc!r}") from exc
        if response.status_code == 429:
            raise _EndpointFailure(
                "HTTP 429",
                retry_after_seconds=_retry_after_seconds(response),
                sent=False,
            )
        if response.status_code >= 500:
            raise _EndpointFailure(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise RpcResponseError(
                method,
                response.status_code,
                f"HTTP {response.status_code}: {response.text[:200]}",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise _EndpointFailure(f"invalid JSON body: {exc}") from exc

    def _result(self, method: str, body: Any) -> Any:
        error = body.get("error") if isinstance(body, dict) else None
        if error:
            raised = _response_error(method, error)
            if isinstance(raised, RpcUnavailableError):
                raise _EndpointFailure(raised.reason)
            raise raised
        if not isinstance(body, dict) or "result" not in body:
            raise _EndpointFailure("response has neither result nor error")
        return body["result"]

    # Typed calls, one per JSON-RPC method used by the engines.

    async def genesis_hash(self) -> str:
        """Return the cluster's genesis hash."""
        return str(await self.call("getGenesisHash"))

    async def latest_blockhash(self) -> LatestBlockhash:
        """Return the latest blockhash at the client's commitment."""
        result = await self.call(
            "getLatestBlockhash", [{"commitment": self.commitment}]
        )
        value = result["value"]
        return LatestBlockhash(
            Hash.from_string(value["blockhash"]), int(value["lastValidBlockHeight"])
        )

    async def block_height(self) -> int:
        """Return the current block height at the client's commitment."""
        return int(await self.call("getBlockHeight", [{"commitment": self.commitment}]))

    async def slot(self) -> int:
        """Return the current slot at the client's commitment."""
        return int(await self.call("getSlot", [{"commitment": self.commitment}]))

    async def balance(self, address: Pubkey) -> int:
        """Return the balance of ``address`` in lamports."""
        result = await self.call(
            "getBalance", [str(address), {"commitment": self.commitment}]
        )
        return int(result["value"])

    async def minimum_balance_for_rent_exemption(self, size_bytes: int) -> int:
        """Return the lamports that make an account of ``size_bytes`` rent exempt."""
        return int(await self.call("getMinimumBalanceForRentExemption", [size_bytes]))

    async def account_info(self, address: Pubkey) -> AccountInfo | None:
        """Return the account at ``address``, or None when it does not exist."""
        result = await self.call(
            "getAccountInfo",
            [str(address), {"encoding": "base64", "commitment": self.commitment}],
        )
        return _account(result["value"])

    async def multiple_accounts(
        self, addresses: Sequence[Pubkey]
    ) -> list[AccountInfo | None]:
        """Return the accounts at ``addresses``, None for each one missing."""
        result = await self.call(
            "getMultipleAccounts",
            [
                [str(address) for address in addresses],
                {"encoding": "base64", "commitment": self.commitment},
            ],
        )
        return [_account(value) for value in result["value"]]

    async def program_accounts(
        self,
        program_id: Pubkey,
        *,
        filters: list[dict[str, Any]],
        data_length_bytes: int | None = None,
    ) -> list[tuple[Pubkey, AccountInfo]]:
        """Return the accounts owned by ``program_id`` that match ``filters``.

        Args:
            program_id: The owner program.
            filters: getProgramAccounts filters (``memcmp``, ``dataSize``).
            data_length_bytes: Return only this many leading data bytes.
        """
        config: dict[str, Any] = {
            "encoding": "base64",
            "commitment": self.commitment,
            "filters": filters,
        }
        if data_length_bytes is not None:
            config["dataSlice"] = {"offset": 0, "length": data_length_bytes}
        result = await self.call("getProgramAccounts", [str(program_id), config])
        if isinstance(result, dict):
            result = result["value"]
        accounts = []
        for entry in result:
            account = _account(entry["account"])
            if account is not None:
                accounts.append((Pubkey.from_string(entry["pubkey"]), account))
        return accounts

    async def send_transaction(
        self, wire: bytes, *, skip_preflight: bool = False
    ) -> Signature:
        """Send a signed transaction once and return its signature.

        The call fails over only when the request surely did not reach a node.

        Raises:
            RpcUnavailableError: The request failed; its status is unknown when
                the failure was a timeout or a 5xx response.
            PreflightFailedError: The preflight simulation failed.
            RpcResponseError: The node rejected the transaction.
        """
        params = _send_params(wire, skip_preflight, self)
        result = await self._call("sendTransaction", params, failover_after_send=False)
        return Signature.from_string(str(result))

    async def send_transactions(
        self, wires: Sequence[bytes], *, skip_preflight: bool = False
    ) -> list[Signature | SlopopsError]:
        """Send signed transactions in one JSON-RPC batch request.

        Each transaction gets its signature, or the error the node returned
        for it (an :class:`RpcUnavailableError` when its status is unknown).
        An endpoint that does not return a list for a batch gets single
        requests from then on.

        Raises:
            RpcUnavailableError: The request failed as a whole; the status of
                every transaction in it is unknown.
        """
        outcomes, _ = await self.send_transactions_with_statuses(
            wires, [], skip_preflight=skip_preflight
        )
        return outcomes

    async def send_transactions_with_statuses(
        self,
        wires: Sequence[bytes],
        signatures: Sequence[Signature],
        *,
        skip_preflight: bool = False,
    ) -> tuple[list[Signature | SlopopsError], list[SignatureStatus | None] | None]:
        """Send signed transactions, then read the statuses of ``signatures``.

        Two or more sends and the getSignatureStatuses calls go in one JSON-RPC
        batch request, sends first, so one round trip does both. A node that
        runs batch items in order, as the local chain does, reports on sends
        of the same batch. Otherwise they show as not found until the next
        read. One send, or an endpoint that does not take batches, gets
        separate requests, sends first.

        Returns:
            Each send's outcome as :meth:`send_transactions` returns it, and
            the statuses as :meth:`signature_statuses` returns them, or None
            when reading them failed transiently (the send outcomes are
            still valid).

        Raises:
            RpcUnavailableError: The request failed as a whole, so the status
                of every transaction in it is unknown. Or, with no ``wires``,
                the status read failed.
            RpcResponseError: The node rejected the status read.
        """
        if not wires:
            return [], await self.signature_statuses(signatures)
        if self._batches_supported and len(wires) > 1:
            outcomes_and_statuses = await self._send_batch(
                wires, signatures, skip_preflight
            )
            if outcomes_and_statuses is not None:
                return outcomes_and_statuses
        outcomes = list(
            await asyncio.gather(*(self._send_single(w, skip_preflight) for w in wires))
        )
        try:
            statuses = await self.signature_statuses(signatures)
        except RpcUnavailableError as exc:
            logger.debug("reading %d statuses failed: %s", len(signatures), exc)
            return outcomes, None
        return outcomes, statuses

    async def _send_batch(
        self,
        wires: Sequence[bytes],
        signatures: Sequence[Signature],
        skip_preflight: bool,
    ) -> (
        tuple[list[Signature | SlopopsError], list[SignatureStatus | None] | None]
        | None
    ):
        """Send one batch; return None when the endpoint does not take batches."""
        sends = [
            self._payload("sendTransaction", _send_params(w, skip_preflight, self))
            for w in wires
        ]
        reads = [
            self._payload(
                "getSignatureStatuses",
                [
                    [
                        str(s)
                        for s in signatures[start : start + _MAX_STATUSES_PER_CALL]
                    ],
                    {"searchTransactionHistory": False},
                ],
            )
            for start in range(0, len(signatures), _MAX_STATUSES_PER_CALL)
        ]

        async def attempt(index: int) -> Any:
            return await self._exchange(index, sends + reads, "sendTransaction")

        try:
            body = await self._with_failover(
                "sendTransaction", attempt, failover_after_send=False
            )
        except RpcResponseError as exc:
            # An HTTP 4xx response to the whole batch means nothing was processed.
            body = {"error": exc.rpc_message}
        if not isinstance(body, list):
            logger.info(
                "RPC endpoint returned no list for a batch; sending singly from now"
            )
            self._batches_supported = False
            return None
        by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
        outcomes = [self._batch_item(by_id.get(p["id"])) for p in sends]
        statuses: list[SignatureStatus | None] = []
        for read in reads:
            item = by_id.get(read["id"])
            if item is not None and item.get("error"):
                error = _response_error("getSignatureStatuses", item["error"])
                if not isinstance(error, RpcUnavailableError):
                    raise error
            if item is None or not isinstance(item.get("result"), dict):
                logger.debug("batch had no statuses for request %s", read["id"])
                return outcomes, None
            statuses.extend(_statuses(item["result"]))
        return outcomes, statuses

    async def _send_single(
        self, wire: bytes, skip_preflight: bool
    ) -> Signature | SlopopsError:
        try:
            return await self.send_transaction(wire, skip_preflight=skip_preflight)
        except SlopopsError as exc:
            return exc

    def _batch_item(self, item: dict[str, Any] | None) -> Signature | SlopopsError:
        method = "sendTransaction"
        if item is None:
            return RpcUnavailableError(method, self.endpoints, "missing in batch")
        if item.get("error"):
            return _response_error(method, item["error"])
        try:
            return Signature.from_string(str(item.get("result")))
        except ValueError:
            return RpcUnavailableError(method, self.endpoints, "invalid signature")

    async def signature_statuses(
        self, signatures: Sequence[Signature], *, search_history: bool = False
    ) -> list[SignatureStatus | None]:
        """Return the status of each signature, None for those not found.

        Without ``search_history`` the node looks only in its recent status
        cache, which is fast and covers every transaction whose blockhash is
        still valid.
        """
        statuses: list[SignatureStatus | None] = []
        for start in range(0, len(signatures), _MAX_STATUSES_PER_CALL):
            batch = signatures[start : start + _MAX_STATUSES_PER_CALL]
            result = await self.call(
                "getSignatureStatuses",
                [[str(s) for s in batch], {"searchTransactionHistory": search_history}],
            )
            statuses.extend(_statuses(result))
        return statuses

    async def signatures_for_address(
        self, address: Pubkey, *, limit: int, before: str | None = None
    ) -> list[dict[str, Any]]:
        """Return up to ``limit`` (at most 1,000) signatures, newest first."""
        config: dict[str, Any] = {"limit": limit, "commitment": self.commitment}
        if before is not None:
            config["before"] = before
        result = await self.call("getSignaturesForAddress", [str(address), config])
        return list(result)


def _send_params(wire: bytes, skip_preflight: bool, client: RpcClient) -> list[Any]:
    return [
        base64.b64encode(wire).decode(),
        {
            "encoding": "base64",
            "skipPreflight": skip_preflight,
            "preflightCommitment": client.commitment,
        },
    ]


def _statuses(result: dict[str, Any]) -> list[SignatureStatus | None]:
    """Decode the ``result`` of one getSignatureStatuses call."""
    return [
        None
        if value is None
        else SignatureStatus(
            int(value["slot"]), value.get("err"), value.get("confirmationStatus")
        )
        for value in result["value"]
    ]


def _response_error(method: str, error: dict[str, Any]) -> SlopopsError:
    """Translate a JSON-RPC error object into the matching exception."""
    code = int(error.get("code", 0))
    message = str(error.get("message", ""))
    if code in _NODE_UNHEALTHY_CODES:
        return RpcUnavailableError(method, [], f"node unhealthy: {code} {message}")
    if code == _PREFLIGHT_FAILURE_CODE:
        return PreflightFailedError(method, code, message, error.get("data"))
    return RpcResponseError(method, code, message, error.get("data"))


def _account(value: dict[str, Any] | None) -> AccountInfo | None:
    if value is None:
        return None
    data = value["data"]
    raw = base64.b64decode(data[0] if isinstance(data, list) else data)
    return AccountInfo(
        lamports=int(value["lamports"]),
        owner=Pubkey.from_string(value["owner"]),
        data=raw,
        executable=bool(value.get("executable", False)),
    )


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse ``Retry-After``: seconds, or an HTTP date (RFC 9110, 10.2.3)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
