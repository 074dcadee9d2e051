"""Pure ASGI middleware: request body limit and the last-resort 500 problem."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.problems import problem_response

log = logging.getLogger("govcast.api")

MAX_REQUEST_BYTES = 2 * 1024 * 1024


class BodyLimit:
    """Answer 413 for bodies over `max_bytes`: by Content-Length up front, and counted while reading.

    The body is read (at most `max_bytes`) before the app runs, so an oversize
    chunked upload is refused without the app ever seeing part of it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await problem_response(400, instance=scope["path"], detail="Content-Length is not a number")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        first: Message = {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # client went away: let the app see it
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit_mb = self.max_bytes / (1024 * 1024)
        response = problem_response(
            413, instance=scope["path"], slug="too-large", title="Request body too large",
            detail=f"the request body is larger than {limit_mb:g} MB; link large attachments by URL instead of embedding them",
        )
        await response(scope, receive, send)


class ServerErrors:
    """Any unexpected exception becomes a generic 500 problem; the traceback goes to the log, never to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = problem_response(
                500, instance=scope["path"], slug="internal",
                detail="an unexpected error occurred; it has been logged. Nothing was accepted unless a later GET shows it.",
            )
            await response(scope, receive, send)
