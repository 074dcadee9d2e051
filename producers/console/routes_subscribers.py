"""Subscribers (operators): find a business of the push directory by name or unified social credit code, see its
channels (contacts masked), confirmation, paused and unsubscribed state and its recent pushes (the push ledger),
and pause or resume every push to it — confirmed first, CSRF-checked, on the audit trail and in the business's own
变更记录 (so the business sees who paused it, and can resume on its manage page).

Contacts stay masked here: an operator who must correct one reads it through `/v1/subscribers/{code}?reveal=contacts`
(audited).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from persistence.directory_lookup import find_subscribers, recent_pushes
from persistence.selfservice import SelfService
from persistence.sessions import Session
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from processors.bus import BusUnavailable
from producers.console.web import SessionDep, check_csrf, page, principal_of, redirect
from producers.directory import directory
from producers.errors import Forbidden, Invalid, NotFound, Unavailable
from schemas.contacts import mask_contact, mask_text
from schemas.subscriber import CONTACT_FIELD, SELF_VERIFIED, PushChannel, Subscriber, credit_code_problem

log = logging.getLogger("govcast.console")
router = APIRouter()
PAGE_SIZE = 50

PUSH_CHANNEL_NAMES = {"sms": "短信", "email": "邮件", "webhook": "Webhook", "wechat_template": "微信模板消息"}
ORIGIN_NAMES = {"operator": "操作员录入", "imported": "批量导入", "self": "企业自助订阅"}
PUSH_STATE_NAMES = {"queued": "排队中", "deferred": "已顺延", "sent": "已发送", "delivered": "已送达", "failed": "失败",
                    "skipped": "已跳过", "unsubscribed": "已退订"}
# push-ledger state -> the console's chip colour (the classes publications use)
PUSH_STATE_CHIPS = {"queued": "pending", "deferred": "scheduled", "sent": "delivering", "delivered": "delivered",
                    "failed": "failed", "skipped": "retracted", "unsubscribed": "retracted"}


@dataclass(frozen=True)
class ChannelRow:
    name: str
    contact: str  # masked; "" when none is on file
    state: str  # what keeps it from carrying pushes, or "可推送" (first choice or fallback)
    ok: bool


@dataclass(frozen=True)
class Standing:
    """The business's push state in one phrase, and the chip colour it wears."""

    label: str
    chip: str


def _operator(session: Session) -> None:
    if session.kind != "operator":
        raise Forbidden("the push directory is managed by operators")


def standing(sub: Subscriber) -> Standing:
    if not sub.consent:
        return Standing("未同意推送", "retracted")
    if "all" in sub.unsubscribed:
        return Standing("已全部退订", "retracted")
    if sub.paused:
        return Standing("已暂停", "paused")
    if not sub.reachable_channels():
        return Standing("无可用渠道", "failed")
    return Standing("推送中", "delivered")


def confirmation(sub: Subscriber) -> str:
    """Who vouches for the contacts: the operator or import that gave them, or which ones the business confirmed."""
    if sub.origin != "self":
        return ORIGIN_NAMES[sub.origin]
    confirmed = [PUSH_CHANNEL_NAMES[c] for c in sub.verified]
    return f"企业自助订阅：{'、'.join(confirmed)}已确认" if confirmed else "企业自助订阅：尚未确认"


def channel_rows(sub: Subscriber) -> list[ChannelRow]:
    reachable = set(sub.reachable_channels())
    rows = []
    for channel in PushChannel:
        field = CONTACT_FIELD[channel]
        contact = mask_contact(field, getattr(sub, field)) or ""
        state = "可推送"
        if not contact:
            state = "未设置"
        elif channel.value in sub.unsubscribed or "all" in sub.unsubscribed:
            state = "已退订"
        elif channel is PushChannel.webhook and sub.webhook_disabled:
            state = "已停用（接收方返回 410 Gone）"
        elif sub.origin == "self" and channel.value in SELF_VERIFIED and channel.value not in sub.verified:
            state = "待企业确认"
        elif channel not in sub.channels:
            state = "未选为推送渠道"
        elif sub.paused:
            state = "已暂停"
        elif len(sub.channels) > 1:  # pushes go to the first reachable channel, the rest are its fallbacks
            state = "可推送（首选）" if channel is sub.channels[0] else "可推送（备用）"
        rows.append(ChannelRow(PUSH_CHANNEL_NAMES[channel.value], contact, state, channel in reachable))
    return rows


def _subscriber(request: Request, store: StatusStore, credit_code: str) -> tuple[SubscriberStore, Subscriber]:
    code = credit_code.upper()[:18]
    subs = directory(request, store)
    sub = subs.get(code) if not credit_code_problem(code) else None
    if sub is None:
        raise NotFound(f"no subscriber {credit_code[:18]!r}")
    return subs, sub


@router.get("/subscribers", response_class=HTMLResponse)
def subscribers(request: Request, session: SessionDep, q: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    _operator(session)
    store: StatusStore = request.app.state.store
    subs = directory(request, store)
    found = find_subscribers(store.engine, q, PAGE_SIZE)
    total, _ = subs.list(1, 0)
    return page(request, "subscribers.html", q=q.strip(), found=found, total=total, standing=standing,
                confirmation=confirmation, channel_names=PUSH_CHANNEL_NAMES, page_size=PAGE_SIZE)


@router.get("/subscribers/{credit_code}", response_class=HTMLResponse)
def subscriber(request: Request, credit_code: str, session: SessionDep) -> HTMLResponse:
    _operator(session)
    store: StatusStore = request.app.state.store
    _, sub = _subscriber(request, store, credit_code)
    pushes = recent_pushes(store.engine, sub.credit_code)
    return page(request, "subscriber.html", sub=sub, standing=standing(sub), confirmation=confirmation(sub),
                rows=channel_rows(sub), pushes=pushes, state_names=PUSH_STATE_NAMES, state_chips=PUSH_STATE_CHIPS,
                channel_names=PUSH_CHANNEL_NAMES, mask_text=mask_text)


@router.get("/subscribers/{credit_code}/{action}", response_class=HTMLResponse)
def confirm(request: Request, credit_code: str, action: str, session: SessionDep) -> HTMLResponse:
    _operator(session)
    if action not in ("pause", "resume"):
        raise NotFound(f"no subscriber action {action!r}")
    _, sub = _subscriber(request, request.app.state.store, credit_code)
    return page(request, "subscriber_confirm.html", sub=sub, action=action)


@router.post("/subscribers/{credit_code}/{action}")
def perform(request: Request, credit_code: str, action: str, session: SessionDep,
            csrf: Annotated[str, Form(max_length=100)] = "",
            reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    check_csrf(session, csrf)
    _operator(session)
    if action not in ("pause", "resume"):
        raise NotFound(f"no subscriber action {action!r}")
    if action == "pause" and not reason.strip():
        raise Invalid("暂停原因 is required")
    subs, sub = _subscriber(request, request.app.state.store, credit_code)
    paused = action == "pause"
    try:  # with the line in the business's own 变更记录 naming who paused it (the audit trail has the reason too)
        SelfService(subs).set_paused(sub.credit_code, paused, principal_of(session), reason.strip())
    except BusUnavailable as exc:  # Kafka mode: the change goes to the directory topic first, or not at all
        raise Unavailable("the message bus is unavailable; nothing was changed, retry later") from exc
    log.info("console: %s %sd pushes to %s", session.name, action, sub.credit_code)
    return redirect(f"/console/subscribers/{sub.credit_code}", done=f"subscriber-{action}")
