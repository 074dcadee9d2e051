"""Login with a token (form field `token`), logout; the login form has its own CSRF cookie (no session yet)."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from persistence.store import Principal, StatusStore
from producers.auth import authenticate_client
from producers.console.web import COOKIE, SessionDep, check_csrf, page, redirect, set_session_cookie
from producers.errors import TooManyRequests, Unauthorized

log = logging.getLogger("govcast.console")
router = APIRouter()
LOGIN_CSRF = "govcast_console_login"


def _safe_next(target: str | None) -> str:
    """Only paths inside the console: never an open redirect."""
    return target if target and target.startswith("/console/") and not target.startswith("//") else "/console/"


def _login_page(request: Request, status_code: int = 200, error: str = "") -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    response = page(request, "login.html", status_code=status_code, login_csrf=csrf, error=error,
                    next=_safe_next(request.query_params.get("next")))
    response.set_cookie(LOGIN_CSRF, csrf, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/console/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form(max_length=200)] = "",
          csrf: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=500)] = "") -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _login_page(request, 403, "登录表单已过期，请重新提交。")
    store: StatusStore = request.app.state.store
    try:
        principal: Principal | None = authenticate_client(store, token.strip(), request.app.state.failed_guesses,
                                                          request.client.host if request.client else None)
    except Unauthorized:
        principal = None
    except TooManyRequests as exc:  # guessing tokens: refused unread until the address's allowance refills
        page_ = _login_page(request, 429, "无效令牌尝试次数过多，请稍后再试。")
        page_.headers.update(exc.headers)
        return page_
    if principal is None:
        return _login_page(request, 401, "令牌无效（不存在、已过期或已吊销）。")
    if principal.kind not in ("operator", "department"):
        log.info("console login refused for a %s token", principal.kind)
        return _login_page(request, 403, "该令牌不能登录管理后台（仅限操作员与部门令牌）。")
    session_id, _ = store.open_session(principal.id, dt.datetime.now(dt.UTC))
    log.info("console login: %s (%s)", principal.name, principal.kind)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, session_id)
    response.delete_cookie(LOGIN_CSRF, path="/console/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    store: StatusStore = request.app.state.store
    store.close_session(request.cookies.get(COOKIE, ""))
    response = redirect("/console/login", out=1)
    response.delete_cookie(COOKIE, path="/console")
    return response
