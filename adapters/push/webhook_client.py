"""The webhook sends' HTTP client: keep-alive connections per receiver, requests pipelined on them.

Why not aiohttp's ClientSession: at 100,000 businesses its per-request work (URL objects, the payload
registry, timers, acquiring and releasing a connection) cost more CPU than everything else govcast does for
a push (docs/benchmarks.md). Webhook requests are all alike -- one small signed JSON POST whose answer's
status (and Retry-After) is all govcast reads -- so this client writes the request bytes itself and parses
the answers with httptools (llhttp, the parser uvicorn uses). Requests to one origin share a few keep-alive
connections and are pipelined (HTTP/1.1: sent without waiting for earlier answers, answered in order);
the writes of one event-loop turn go out in one system call. A new connection carries one request until its
first answer shows the receiver keeps connections open: pipelining onto a receiver that closes after an answer
would write into a closed socket, and the broken pipe discards the answer it already sent (asyncio stops reading),
so a request the receiver had taken would be sent a second time.

At-least-once: a request whose connection closed before its answer came (a pipelined request behind an
answer that closed the connection, an idle connection the receiver had closed) is sent again on a fresh
connection, a bounded number of times (tenacity: at once, then after a short jittered pause); receivers
deduplicate by webhook-id, so sending again is safe. An
origin that answers without keep-alive (HTTP/1.0, `Connection: close`) gets one request per connection.
Egress guard: a connection goes only to the addresses `GuardedResolver` approved for the host.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import httptools
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from adapters.egress import GuardedResolver, networks

SENDS_PER_REQUEST = 3  # one send plus two after connections closed under it, then the delivery's retry policy
IDLE_SECONDS = 30.0  # idle keep-alive connections older than this are closed rather than reused


class Answer(NamedTuple):
    status: int
    retry_after: str | None


class ConnectionDropped(ConnectionError):
    """The connection closed before this request's answer arrived (the request may or may not have been seen)."""


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


@functools.lru_cache(maxsize=4096)  # origins are few (one per receiving system), requests to them many
def _origin(scheme: str, netloc: str) -> tuple[Origin, str]:
    """The origin a URL's scheme and netloc name, and its Host header."""
    parts = urlsplit(f"{scheme}://{netloc}/")
    host = (parts.hostname or "").encode("idna").decode("ascii")
    port = parts.port or (443 if scheme == "https" else 80)
    authority = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        authority += f":{port}"
    return Origin(scheme, host, port), authority


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests written in order, answers matched to them in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.waiting: deque[asyncio.Future[Answer]] = deque()
        self.transport: asyncio.Transport | None = None
        self.open = True
        self.keep_alive = True  # False once an answer said the server closes after it
        self.pipelining = False  # True once an answer said the server keeps the connection open
        self.used_at = time.monotonic()
        self._out: list[bytes] = []
        self._retry_after: str | None = None

    # -- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close(ConnectionDropped(f"unreadable HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionDropped(f"connection closed before the answer ({exc or 'by the receiver'})"))

    # -- httptools callbacks ------------------------------------------------------
    def on_message_begin(self) -> None:
        self._retry_after = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (we send no Expect, but a server may): the real one follows
            return
        if self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(Answer(status, self._retry_after))
        self.used_at = time.monotonic()
        if self.parser.should_keep_alive():
            self.pipelining = True
        else:
            self.keep_alive = False
            self.close(ConnectionDropped("the receiver closes the connection after each answer"))

    # -- for the client -----------------------------------------------------------
    def send(self, request: bytes) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = self.loop.create_future()
        self.waiting.append(future)
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(request)
        return future

    def _flush(self) -> None:
        if self.open and self.transport is not None and self._out:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def close(self, reason: Exception) -> None:
        if self.open:
            self.open = False
            if self.transport is not None:
                self.transport.close()
        self._fail(reason)

    def _fail(self, reason: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(reason)


class WebhookClient:
    """Pipelined POSTs over keep-alive connections, `connections` per origin with up to `depth` requests each."""

    def __init__(self, allowed_networks: Sequence[str] = (), *, connections: int = 8, depth: int = 16,
                 max_idle: int = 256) -> None:
        self.resolver = GuardedResolver(networks(allowed_networks))
        self.connections, self.depth, self.max_idle = connections, depth, max_idle
        self.pools: OrderedDict[Origin, list[_Connection]] = OrderedDict()  # least recently used first
        self.one_shot: set[Origin] = set()  # origins that close after every answer
        self._opening: dict[Origin, int] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes, timeout: float) -> Answer:
        """POST `body` to `url`; raises OSError (ForbiddenAddress, ConnectionDropped, …) or TimeoutError."""
        origin, request = self._request(url, headers, body)
        async with asyncio.timeout(timeout):
            try:  # the first send outside tenacity: it is nearly always the only one, and this is the hot path
                return await self._send(origin, request)
            except ConnectionDropped:
                pass
            # The connection closed under the request: send it again on a fresh connection at once (the usual
            # cause is a receiver closing a keep-alive connection with requests pipelined behind an answer), and
            # once more after a short jittered pause; then the delivery's own retry policy takes over.
            async for attempt in AsyncRetrying(retry=retry_if_exception_type(ConnectionDropped), reraise=True,
                                               stop=stop_after_attempt(SENDS_PER_REQUEST - 1),
                                               wait=wait_random_exponential(multiplier=0.05, max=0.5)):
                with attempt:
                    return await self._send(origin, request)
        raise AssertionError("unreachable: tenacity returns or raises")

    async def _send(self, origin: Origin, request: bytes) -> Answer:
        """One send of a request on a connection to `origin` (ConnectionDropped: it closed before the answer)."""
        connection = await self._connection(origin)
        try:
            return await connection.send(request)
        except ConnectionDropped:
            raise
        except BaseException:  # timed out (or cancelled): later answers on it would be out of step
            connection.close(ConnectionDropped("an earlier request on this connection timed out"))
            raise
        finally:
            if not connection.keep_alive:
                self.one_shot.add(origin)

    @staticmethod
    def _request(url: str, headers: Sequence[tuple[str, str]], body: bytes) -> tuple[Origin, bytes]:
        parts = urlsplit(url)
        origin, authority = _origin(parts.scheme, parts.netloc)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not target.isascii() or not target.isprintable() or " " in target:
            target = quote(target, safe="/?&=%:@!$'()*+,;-._~")
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        text = (f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: govcast-push\r\n"
                f"Content-Length: {len(body)}\r\n{head}\r\n")
        return origin, text.encode("latin-1") + body

    async def _connection(self, origin: Origin) -> _Connection:
        """The least busy open connection to `origin`; a new one while fewer than `connections` are open."""
        pool = self.pools.get(origin)
        if pool is None:
            pool = self.pools[origin] = []
            self._trim()
        else:
            self.pools.move_to_end(origin)
        # An origin that closes after every answer gets as many requests in flight, one per connection.
        depth, limit = (1, self.connections * self.depth) if origin in self.one_shot else (self.depth, self.connections)
        while True:
            best, busy, closed = None, depth, False  # one pass: the least busy open connection, idle ones closed
            now = time.monotonic()
            for connection in pool:
                in_flight = len(connection.waiting)
                if connection.open and not in_flight and now - connection.used_at > IDLE_SECONDS:
                    connection.close(ConnectionDropped("idle too long"))
                if not connection.open:
                    closed = True
                elif in_flight < busy and (connection.pipelining or not in_flight):  # one request until keep-alive
                    best, busy = connection, in_flight
            if closed:
                pool[:] = [c for c in pool if c.open]
            room = len(pool) + self._opening.get(origin, 0) < limit
            if best is not None and (not best.waiting or not room):
                return best
            if room:
                return await self._open(origin, pool)
            await asyncio.sleep(0.001)  # every connection is full: let answers arrive

    async def _open(self, origin: Origin, pool: list[_Connection]) -> _Connection:
        self._opening[origin] = self._opening.get(origin, 0) + 1
        try:
            loop = asyncio.get_running_loop()
            addresses = await self.resolver.resolve(origin.host, origin.port, family=socket.AF_UNSPEC)
            error: OSError | None = None
            for address in addresses:  # the addresses the guard approved, and only those
                try:
                    _, connection = await loop.create_connection(
                        lambda: _Connection(loop), host=address["host"], port=address["port"],
                        ssl=self._tls_context() if origin.scheme == "https" else None,
                        server_hostname=origin.host if origin.scheme == "https" else None)
                except OSError as exc:
                    error = exc
                    continue
                pool.append(connection)
                return connection
            raise error or OSError(f"{origin.host} has no address")
        finally:
            self._opening[origin] -= 1

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _trim(self) -> None:
        """Close the least recently used origins' idle connections beyond `max_idle` origins."""
        while len(self.pools) > self.max_idle:
            origin, pool = next(iter(self.pools.items()))
            if any(c.waiting for c in pool):
                self.pools.move_to_end(origin)
                return
            del self.pools[origin]
            for connection in pool:
                connection.close(ConnectionDropped("closed to make room"))

    async def close(self) -> None:
        for pool in self.pools.values():
            for connection in pool:
                connection.close(ConnectionDropped("the client closed"))
        self.pools.clear()
        await asyncio.sleep(0)  # let the transports close
