"""Sandbox controls (`/sandbox/_clock`, `/sandbox/<platform>/_faults`, `_reset`, …) change what the demo
platforms and the pipeline clock do: only an operator token may use them.

Reads (`GET …/_inspect`, `GET /sandbox/_clock`) stay open so the demo's links work in a browser;
every other method on a `/sandbox/` path with a `_`-segment needs `Authorization: Bearer <operator token>`.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from persistence.store import StatusStore
from producers.auth import authenticate_client
from producers.errors import TooManyRequests, Unauthorized
from producers.problems import problem_response

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def is_control(method: str, path: str) -> bool:
    return (path.startswith("/sandbox/") and method not in _SAFE
            and any(part.startswith("_") for part in path.split("/")[2:]))


class SandboxControls:
    def __init__(self, app: ASGIApp, store: StatusStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_control(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        try:
            principal = await run_in_threadpool(authenticate_client, self.store,
                                                token if scheme.lower() == "bearer" else None,
                                                getattr(scope["app"].state, "failed_guesses", None),
                                                (scope.get("client") or (None,))[0])
        except (Unauthorized, TooManyRequests) as exc:
            await problem_response(exc.status, instance=scope["path"], slug=exc.slug, detail=exc.detail,
                                   headers=exc.headers)(scope, receive, send)
            return
        if principal.kind != "operator":
            await problem_response(403, instance=scope["path"], slug="forbidden",
                                   detail="sandbox controls need an operator token")(scope, receive, send)
            return
        await self.app(scope, receive, send)
