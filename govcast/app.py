"""The all-in-one ASGI app of `govcast run`: submit API + portal + (embedded) pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.middleware import Middleware

from adapters import channels
from govcast.clock import PipelineClock
from govcast.pipeline_report import publish_reports, report_path
from govcast.portal_web import PublicFiles, portal_router, redirect_router
from govcast.runtime import Runtime, portal_config
from govcast.sandbox_guard import SandboxControls
from producers.api import create_app
from producers.api.headers import SecurityHeaders
from producers.publishing import Publisher

log = logging.getLogger("govcast.app")


class ClockMove(BaseModel):
    advance_seconds: float = Field(ge=0, le=366 * 86400)


def clock_router(clock: PipelineClock) -> APIRouter:
    """Sandbox mode: read and move the pipeline clock (quiet hours, daily caps, schedules in demos and tests)."""
    router = APIRouter()

    @router.get("", summary="The pipeline clock (sandbox mode)")
    def read() -> dict[str, object]:
        return clock.describe()

    @router.post("", summary="Move the pipeline clock forward (sandbox mode)")
    def move(body: ClockMove) -> dict[str, object]:
        clock.advance(body.advance_seconds)
        log.warning("pipeline clock moved forward %.0f s (sandbox mode): now %s", body.advance_seconds, clock.now())
        return clock.describe()

    return router


def build_app(runtime: Runtime, *, run_pipeline: bool = True) -> FastAPI:
    settings = runtime.settings
    app = create_app(settings, runtime.store, runtime.bus)
    settings.portal_dir.mkdir(parents=True, exist_ok=True)
    if "portal" in settings.channels:
        app.include_router(portal_router(portal_config(settings)))
    app.mount("/portal", PublicFiles(directory=settings.portal_dir, html=True, check_dir=False), name="portal")
    for spec in channels.specs():  # every known channel's callbacks: a platform may answer after a channel is switched off
        for route, router in spec.callbacks.items():
            app.include_router(router(settings, runtime.ledger), prefix=f"/callbacks/{route}", tags=["callbacks"])
    if settings.sandboxes:
        # faults, resets, clock moves: operators only; just inside SecurityHeaders, so refusals carry its headers too
        assert app.user_middleware[0].cls is SecurityHeaders
        app.user_middleware.insert(1, Middleware(SandboxControls, store=runtime.store))
        app.include_router(clock_router(runtime.clock), prefix="/sandbox/_clock", tags=["sandbox"])
        for spec in channels.specs():
            for name, sandbox in spec.sandboxes.items():
                app.mount(f"/sandbox/{name}", sandbox(settings), name=f"sandbox-{name}")

    if run_pipeline:
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(a: FastAPI) -> AsyncIterator[None]:
            host = start_pipeline(runtime)
            a.state.pipeline = host  # /readyz asks it which tasks are down
            task = asyncio.create_task(host.run(), name="pipeline")
            expiry = asyncio.create_task(expire_on_schedule(a.state.publisher, runtime), name="expiry")
            background = [expiry]
            if settings.api_processes > 1 and not settings.broker:  # the other API processes' /readyz reads it
                # embedded mode, so an EmbeddedHost: it has problems(), which the PipelineHost protocol does not name
                reports = publish_reports(host, report_path(settings.data_dir))  # type: ignore[arg-type]
                background.append(asyncio.create_task(reports, name="pipeline-report"))
            try:
                async with inner(a):
                    yield
            finally:
                for job in background:
                    job.cancel()
                host.stop()
                await task

        app.router.lifespan_context = lifespan
    if "portal" in settings.channels:  # last: it answers every path nothing else claimed
        app.include_router(redirect_router(portal_config(settings)))
    return app


async def expire_on_schedule(publisher: Publisher, runtime: Runtime) -> None:
    """有效期至 by the pipeline clock: publications past it become 失效 (producers.lifecycle)."""
    while True:
        try:
            await asyncio.to_thread(publisher.expire_due, runtime.clock.now())
        except Exception:  # the store may be down for a while: the next tick tries again
            log.exception("expiry check failed")
        await asyncio.sleep(runtime.settings.scheduler_interval)


class PipelineHost(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


def start_pipeline(runtime: Runtime) -> PipelineHost:
    """The host that runs the processors in this process: embedded log or Kafka (faust)."""
    if runtime.settings.broker:
        from processors.faust_host import FaustHost

        return FaustHost(runtime)
    from processors.embedded.host import EmbeddedHost
    from processors.embedded.log import SqliteLog

    assert isinstance(runtime.bus, SqliteLog)
    return EmbeddedHost(runtime.bus, runtime.context())
