"""The pipelining webhook client against real HTTP servers: aiohttp's (HTTP/1.1, keep-alive, pipelining),
Python's http.server (HTTP/1.0, closes after every answer) and a raw socket server that misbehaves."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from adapters.egress import ForbiddenAddress
from adapters.push.webhook import signed
from adapters.push.webhook_client import Answer, WebhookClient
from tests.push_support import SECRET, Receiver

LOOPBACK = ("127.0.0.1/32",)


async def with_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                      body: Callable[[str], Awaitable[Any]]) -> Any:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await body(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_requests_to_one_receiver_share_a_few_connections_and_each_arrives_once() -> None:
    seen: Counter[str] = Counter()
    peers: set[Any] = set()

    async def hook(request: web.Request) -> web.Response:
        seen[request.headers["webhook-id"]] += 1
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        assert await request.read() == b'{"n":1}' and request.headers["content-type"] == "application/json"
        if request.path == "/busy":
            return web.Response(status=429, headers={"Retry-After": "7"})
        return web.Response(status=204)

    async def body(url: str) -> list[Answer]:
        client = WebhookClient(LOOPBACK, connections=2, depth=16)
        try:
            return await asyncio.gather(*(
                client.post(f"{url}/{'busy' if n % 10 == 0 else f'hooks/{n}?x=1'}",
                            [("content-type", "application/json"), ("webhook-id", f"msg_{n}")], b'{"n":1}', 10)
                for n in range(300)))
        finally:
            await client.close()

    answers = asyncio.run(with_server(hook, body))
    assert seen == Counter({f"msg_{n}": 1 for n in range(300)})
    assert len(peers) <= 2  # kept alive and pipelined, not one connection per request
    assert answers.count(Answer(429, "7")) == 30 and answers.count(Answer(204, None)) == 270


def test_a_receiver_that_closes_after_every_answer_gets_every_request_once(receiver: Receiver) -> None:
    """http.server answers HTTP/1.0 and closes: requests pipelined behind an answer are sent again, not lost."""
    async def send_all() -> list[Answer]:
        client = WebhookClient(LOOPBACK, connections=4, depth=8)
        requests = [signed(SECRET, f"msg_{n}", int(time.time()), {"n": n}) for n in range(40)]
        try:
            return await asyncio.gather(*(client.post(f"{receiver.url}/hooks/{n}", list(headers.items()), body, 10)
                                          for n, (body, headers) in enumerate(requests)))
        finally:
            await client.close()

    answers = asyncio.run(send_all())
    assert answers == [Answer(204, None)] * 40
    assert sorted(receiver.received) == sorted(f"msg_{n}" for n in range(40))
    assert all(len(copies) == 1 for copies in receiver.received.values())
    assert receiver.bad_signatures == 0


def test_a_receiver_that_never_answers_times_out_and_the_next_request_gets_a_fresh_connection() -> None:
    async def hook(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(2)  # longer than the client waits; short, as the server waits for it at cleanup
        return web.Response(status=200, text="ok")

    async def body(url: str) -> Answer:
        client = WebhookClient(LOOPBACK, connections=1, depth=4)
        try:
            with pytest.raises(TimeoutError):
                await client.post(f"{url}/slow", [], b"{}", 0.5)
            return await client.post(f"{url}/fast", [], b"{}", 5)
        finally:
            await client.close()

    assert asyncio.run(with_server(hook, body)) == Answer(200, None)


def test_a_garbled_answer_is_a_connection_error_not_a_delivery() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(3):  # the client sends again on a fresh connection, a bounded number of times
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def body() -> None:
        client = WebhookClient(LOOPBACK)
        try:
            with pytest.raises(OSError):
                await client.post(f"http://127.0.0.1:{port}/hook", [], b"{}", 5)
        finally:
            await client.close()

    asyncio.run(body())
    thread.join(5)
    server.close()


def test_names_resolving_to_loopback_are_refused_without_the_allow_list() -> None:
    async def body() -> None:
        client = WebhookClient(())
        try:
            with pytest.raises(ForbiddenAddress):
                await client.post("http://localhost:9/hook", [], b"{}", 5)
        finally:
            await client.close()

    asyncio.run(body())


def test_a_new_connection_carries_one_request_until_its_first_answer_shows_keep_alive() -> None:
    """Pipelining onto a receiver not yet known to keep connections open could write into a socket it closed
    after answering, and the broken pipe would lose that answer: the request would be sent twice."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    before_first_answer: list[int] = []

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(5)
        conn.recv(65536)  # the first request (small: one read)
        time.sleep(0.3)  # the client had time to pipeline behind it, if it would
        conn.setblocking(False)
        try:
            extra = conn.recv(65536)
        except BlockingIOError:
            extra = b""
        before_first_answer.append(1 + extra.count(b"POST "))
        conn.setblocking(True)
        ok = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        answered = before_first_answer[0]
        conn.sendall(ok * answered)
        buffered = b""
        while answered < 5:  # then pipelined on the kept-alive connection: answer what comes, in order
            buffered += conn.recv(65536)
            if (count := buffered.count(b"POST ")):
                conn.sendall(ok * count)
                answered += count
                buffered = b""
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def body() -> list[Answer]:
        client = WebhookClient(LOOPBACK, connections=1, depth=8)
        try:
            return await asyncio.gather(*(client.post(f"http://127.0.0.1:{port}/hook/{n}", [], b"{}", 5)
                                          for n in range(5)))
        finally:
            await client.close()

    assert asyncio.run(body()) == [Answer(204, None)] * 5
    thread.join(5)
    server.close()
    assert before_first_answer == [1]
