"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from producers.api.deps import StoreDep
from producers.problems import problem_docs, problem_response

log = logging.getLogger("govcast.api")
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the status store answers a query and no pipeline task is down",
            responses=problem_docs(503))
def readyz(store: StoreDep, request: Request) -> JSONResponse:
    try:
        store.count_tokens()
    except Exception:
        log.exception("readyz: the status store did not answer")
        return problem_response(503, instance="/readyz", slug="not-ready", detail="the status store does not answer")
    # the host of `govcast run` if this process runs it; in an extra API process, the main process's report of it
    pipeline = getattr(request.app.state, "pipeline", None)
    problems = pipeline.problems() if pipeline is not None and hasattr(pipeline, "problems") else []
    if problems:
        return problem_response(503, instance="/readyz", slug="not-ready",
                                detail=f"{len(problems)} pipeline task(s) down, restarting with backoff: {'; '.join(problems[:5])}")
    return JSONResponse({"status": "ready"})
