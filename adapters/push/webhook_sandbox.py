"""The bundled webhook receiver (sandbox at /sandbox/webhook/): any path below `hooks/` accepts deliveries; `GET /_inspect`
lists them, deduplicated by `webhook-id` as a real receiver would."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.common.install import Installation


def webhook_receiver(settings: Installation) -> FastAPI:
    app = FastAPI(title="webhook receiver (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)
    received: dict[str, dict[str, Any]] = {}

    @app.post("/hooks/{name}")
    async def hook(name: str, request: Request) -> JSONResponse:
        body = await request.body()
        msg_id = request.headers.get("webhook-id", "")
        entry = received.setdefault(msg_id, {"endpoint": name, "body": body.decode(errors="replace"), "count": 0,
                                             "headers": {k: v for k, v in request.headers.items()
                                                         if k.startswith("webhook-")}})
        entry["count"] += 1
        return JSONResponse({"ok": True})

    @app.get("/_inspect")
    def inspect() -> dict[str, Any]:
        return {"deliveries": received}

    return app
