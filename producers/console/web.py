"""Plumbing of the console pages: templates (autoescaped), the session of a request, CSRF, labels.

The session cookie is HttpOnly, SameSite=Strict, Secure when the page was served over https, and
names a server-side session (persistence.sessions). Every state-changing form carries the
session's CSRF token; a POST without the right one is refused (403) and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters import channels
from persistence.sessions import Session
from persistence.store import Principal, StatusStore
from settings import Settings

HERE = Path(__file__).resolve().parent
COOKIE = "govcast_console"
CST = dt.timezone(dt.timedelta(hours=8), "CST")

STATUS_LABELS = {
    "pending": "待处理", "scheduled": "定时发布", "held": "待审核", "rendering": "生成中", "delivering": "投递中",
    "retrying": "重试中", "delivered": "已送达", "partially_delivered": "部分送达", "failed": "失败", "dead": "死信",
    "retracting": "撤回中", "retracted": "已撤回", "paused": "已暂停",
    "awaiting_review": "新媒体待审", "rejected": "审核未通过",
}
CHANNEL_LABELS = channels.labels()
KIND_LABELS = {"policy": "政策文件", "interpretation": "政策解读", "notice": "通知公告", "news": "工作动态"}


class LoginRequired(Exception):
    """No live console session: the handler sends the browser to the login page (forms: 403)."""


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token."""


def cst(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(CST).strftime(fmt) if value else "—"


@functools.cache
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["cst"] = cst
    env.globals.update(status_label=lambda s: STATUS_LABELS.get(s, s), channel_label=lambda c: CHANNEL_LABELS.get(c, c),
                       kind_label=lambda k: KIND_LABELS.get(k, k))
    return env


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = getattr(request.state, "console_session", None)
    store: StatusStore = request.app.state.store
    html = templates().get_template(name).render(
        request=request, session=session, csrf=session.csrf if session else "",
        pauses=store.pauses() if session else {}, now_iso=dt.datetime.now(dt.UTC).isoformat(), **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def redirect(path: str, **query: Any) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v not in (None, "")}
    return RedirectResponse(path + (f"?{urlencode(shown)}" if shown else ""), status_code=303)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_session(request: Request) -> Session:
    """The live session of this request, or LoginRequired."""
    value = request.cookies.get(COOKIE)
    store: StatusStore = request.app.state.store
    idle = dt.timedelta(minutes=settings_of(request).console_idle_minutes)
    session = store.session(value, dt.datetime.now(dt.UTC), idle) if value else None
    if session is None or session.kind not in ("operator", "department"):
        raise LoginRequired()
    request.state.console_session = session
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def principal_of(session: Session) -> Principal:
    return Principal(session.principal_id, session.kind, session.name, session.publisher_code)


def check_csrf(session: Session, presented: str | None) -> None:
    if not presented or not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise CsrfRefused()


def set_session_cookie(response: Any, request: Request, value: str) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/console", max_age=None)
