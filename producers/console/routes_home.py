"""Console home (inspection watch, what needs attention), channels, dead letters."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from adapters import channels as channel_registry
from persistence.inspection import Report, Watch, inspect
from persistence.reviews import awaiting_reviews
from persistence.store import StatusStore
from producers.console.lag import consumer_lag
from producers.console.web import SessionDep, page, settings_of
from producers.errors import Forbidden
from settings import Settings

router = APIRouter()


def watch_of(settings: Settings) -> Watch:
    return Watch(settings.inspection_warn_days, settings.inspection_alarm_days, dict(settings.inspection_column_days),
                 tuple(settings.inspection_rare_columns))


def columns_of(settings: Settings) -> list[str]:
    return list(dict.fromkeys(settings.categories))


def inspection(store: StatusStore, settings: Settings) -> Report:
    return inspect(store.engine, columns_of(settings), settings.channels, watch_of(settings), dt.datetime.now(dt.UTC))


def mode_of(settings: Settings, channel: str) -> str:
    """Sandbox or live, as the channel's configuration says (the portal is generated here either way)."""
    if channel == "portal":
        return "本地生成"
    try:
        sandbox = channel_registry.spec_of(channel).config(settings).sandbox
    except ValueError:  # incomplete configuration: the runtime refused to start the channel's adapter
        return "未配置"
    return "沙箱" if sandbox and settings.sandboxes else "正式"  # outside sandbox mode nothing talks to a sandbox


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    store: StatusStore = request.app.state.store
    settings = settings_of(request)
    held = store.counts_by_status().get("held", 0) if session.kind == "operator" else None
    dead = sum(store.open_dead_letter_counts().values()) if session.kind == "operator" else None
    reviews = len(awaiting_reviews(store.engine)) if session.kind == "operator" else None
    return page(request, "home.html", report=inspection(store, settings), held=held, dead=dead, reviews=reviews,
                figures=store.channel_figures(settings.channels) if session.kind == "operator" else {})


@router.get("/channels", response_class=HTMLResponse)
def channels(request: Request, session: SessionDep) -> HTMLResponse:
    if session.kind != "operator":
        raise Forbidden("the channels page is for operators")
    store: StatusStore = request.app.state.store
    settings = settings_of(request)
    return page(request, "channels.html", figures=store.channel_figures(settings.channels),
                lag=consumer_lag(settings, request.app.state.bus), sandbox=settings.sandboxes,
                modes={c: mode_of(settings, c) for c in settings.channels},
                host="Kafka（分布式）" if settings.broker else "内置日志（单机）")


@router.get("/deadletters", response_class=HTMLResponse)
def dead_letters(request: Request, session: SessionDep, channel: str = "") -> HTMLResponse:
    if session.kind != "operator":
        raise Forbidden("dead letters are for operators")
    store: StatusStore = request.app.state.store
    rows = store.dead_letters(channel=channel[:30] or None, limit=200)
    return page(request, "deadletters.html", rows=rows, counts=store.open_dead_letter_counts(), channel=channel)
