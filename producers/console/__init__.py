"""The operator console at /console: server-rendered pages (Jinja2, autoescaped), a little external JavaScript
for live chips (Server-Sent Events) and confirmations, no inline scripts or styles.

`install_console(app)` adds its routes, static files and error pages to the API app; nothing happens at import.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.console import (
    routes_actions,
    routes_auth,
    routes_home,
    routes_publications,
    routes_review,
    routes_subscribers,
    routes_tokens,
    sse,
)
from producers.console.web import HERE, CsrfRefused, LoginRequired, page, redirect
from producers.errors import PublishError

ERROR_TITLES = {400: "请求有误", 401: "需要登录", 403: "无权操作", 404: "未找到", 409: "无法执行", 422: "请补全信息",
                503: "暂时不可用"}


def _console_path(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def install_console(app: FastAPI) -> None:
    for module in (routes_auth, routes_home, routes_publications, routes_review, routes_actions, routes_tokens,
                   routes_subscribers, sse):
        app.include_router(module.router, prefix="/console", include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.get("/console", include_in_schema=False)
    def console_root() -> Response:
        return redirect("/console/")

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method == "GET":
            return redirect("/console/login", next=request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return page(request, "error.html", status_code=403, title="需要登录", detail="会话已结束或未登录，请重新登录。")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return page(request, "error.html", status_code=403, title="表单已失效",
                    detail="这个表单不是本次会话提供的（CSRF 校验未通过），操作未执行。请返回页面重新操作。")

    previous_publish = app.exception_handlers.get(PublishError)
    previous_http = app.exception_handlers.get(StarletteHTTPException)

    async def publish_error(request: Request, exc: Exception) -> Any:
        if _console_path(request) and isinstance(exc, PublishError):
            return page(request, "error.html", status_code=exc.status, title=ERROR_TITLES.get(exc.status, "出错了"),
                        detail=str(exc.detail), errors=[f"{e.field}: {e.message}" for e in exc.errors])
        assert previous_publish is not None
        return await previous_publish(request, exc)  # type: ignore[misc]

    async def http_error(request: Request, exc: Exception) -> Any:
        if _console_path(request) and isinstance(exc, StarletteHTTPException) and not request.url.path.startswith(
                "/console/static/"):
            return page(request, "error.html", status_code=exc.status_code,
                        title=ERROR_TITLES.get(exc.status_code, "出错了"), detail=str(exc.detail))
        assert previous_http is not None
        return await previous_http(request, exc)  # type: ignore[misc]

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(PublishError, publish_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = ["install_console"]
