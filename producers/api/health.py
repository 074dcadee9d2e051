"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from producers.api.deps import StoreDep
from producers.problems import problem_docs, problem_response

log = logging.getLogger("govcast.api")
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the status store answers a query", responses=problem_docs(503))
def readyz(store: StoreDep) -> JSONResponse:
    try:
        store.count_tokens()
    except Exception:
        log.exception("readyz: the status store did not answer")
        return problem_response(503, instance="/readyz", slug="not-ready", detail="the status store does not answer")
    return JSONResponse({"status": "ready"})
