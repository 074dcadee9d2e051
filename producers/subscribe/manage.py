"""/subscribe/m/<signed link>: one business's own page — settings, message center, policies for it.

Every change is one small form; on success the page comes back saying what was saved (and the change is in
the business's history); on a mistake the same form comes back with the message next to the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from processors.bus import BusUnavailable
from producers.subscribe.center import CHANNEL_NAMES, Center, Sent
from producers.subscribe.forms import MESSAGES, QUALIFICATIONS, REGIONS, TOPICS, form_values
from producers.subscribe.links import mask_email, mask_mobile, mask_openid, mask_url
from producers.subscribe.render import SECURITY_HEADERS, page, unavailable
from producers.subscribe.state import center_of, client_ip, site_of, views_of, webhook_problem
from schemas import industries
from schemas.subscriber import SCALES, Subscriber

router = APIRouter(prefix="/subscribe/m", tags=["subscription center"], include_in_schema=False)
Token = Annotated[str, Path(max_length=300)]
SAVED = {"topics": "关注的政策主题已保存。", "profile": "企业信息已保存。", "contacts": "接收方式与联系方式已保存。",
         "pace": "免打扰时段与每日上限已保存。", "paused": "已暂停全部推送，随时可以恢复。", "resumed": "已恢复推送。",
         "unsubscribed": "已退订。", "resubscribed": "已重新订阅。"}
SECTIONS = ("topics", "profile", "contacts", "pace", "pause", "unsubscribe", "delete")


class LinkProblem(Exception):
    def __init__(self, expired: bool) -> None:
        self.expired = expired


def _load(request: Request, token: str) -> tuple[Center, Subscriber]:
    center = center_of(request)
    found = center.read_manage(token)
    if found is None or found[1] is None:
        raise LinkProblem(expired=found is not None)
    return center, found[1]


def _link_problem(request: Request, problem: LinkProblem) -> HTMLResponse:
    lines = ["此管理链接已过期（24小时有效）。"] if problem.expired else ["此管理链接无效，或该订阅已删除。"]
    return page("outcome", site_of(request), 410 if problem.expired else 404, title="链接不可用", ok=False,
                lines=[*lines, "请在“管理我的订阅”重新获取。"], manage_url="", sent=[],
                links=[("/subscribe/manage", "重新获取管理链接")])


def values_of(sub: Subscriber) -> dict[str, Any]:
    return {"name": sub.name, "region": sub.region, "industry": sub.industry, "industry_label": industries.label(sub.industry),
            "scale": sub.scale, "qualifications": sub.qualifications, "topics": sub.topics,
            "channels": [c.value for c in sub.channels], "email": sub.email, "mobile": sub.mobile,
            "webhook_url": sub.webhook_url, "wechat_openid": sub.wechat_openid, "quiet_hours": sub.quiet_hours,
            "daily_cap": sub.daily_cap}


def _contacts(sub: Subscriber) -> list[dict[str, str]]:
    def state(channel: str) -> str:
        if sub.origin != "self":
            return ""
        return "已验证" if channel in sub.verified else "待确认"

    rows = [("电子邮箱", mask_email(sub.email), state("email") if sub.email else ""),
            ("手机号", mask_mobile(sub.mobile), state("sms") if sub.mobile else ""),
            ("Webhook", mask_url(sub.webhook_url), ""), ("微信 OpenID", mask_openid(sub.wechat_openid), "")]
    return [{"label": label, "masked": masked or "未填写", "state": st} for label, masked, st in rows]


def _unsubscribe_rows(sub: Subscriber) -> list[tuple[str, str, bool, str]]:
    """(channel, its name, unsubscribed itself, what it does now): a channel says 接收中 only when pushes really
    come on it (not while everything is unsubscribed or paused, nor before its address is confirmed)."""
    reachable = {c.value for c in sub.reachable_channels()}

    def state(channel: str) -> str:
        if channel in sub.unsubscribed:
            return "已退订"
        if channel != "all" and "all" in sub.unsubscribed:
            return "随全部推送停止"
        if sub.paused:
            return "已暂停"
        if channel == "webhook" and sub.webhook_disabled:
            return "已停用（接收地址已注销）"
        return "接收中" if channel == "all" or channel in reachable else "待确认联系方式"

    return [(c, CHANNEL_NAMES[c], c in sub.unsubscribed, state(c)) for c in [*(c.value for c in sub.channels), "all"]]


def _render(request: Request, token: str, sub: Subscriber, *, status: int = 200, saved: str = "",
            errors: dict[str, str] | None = None, values: dict[str, Any] | None = None, sent: list[Sent] | None = None,
            industry_choices: list[tuple[str, str]] | None = None) -> HTMLResponse:
    center = center_of(request)
    rows = _unsubscribe_rows(sub)
    return page("manage", site_of(request), status, title=f"管理订阅：{sub.name}", current="manage", tab="manage",
                base=f"/subscribe/m/{token}", sub=sub, saved=saved, errors=errors or {},
                values={**values_of(sub), **(values or {})}, sent=sent or [], contacts=_contacts(sub),
                reachable=[CHANNEL_NAMES[c.value] for c in sub.reachable_channels()], unsubscribe_rows=rows,
                history=center.selfservice.history(sub.credit_code), keeps_secret=bool(sub.webhook_secret),
                industry_choices=industry_choices or [], default_quiet=center.notifier.config.quiet_hours)


@router.get("/{token}", response_class=HTMLResponse)
def manage_page(request: Request, token: Token, saved: str = "") -> HTMLResponse:
    try:
        _, sub = _load(request, token)
    except LinkProblem as problem:
        return _link_problem(request, problem)
    return _render(request, token, sub, saved=SAVED.get(saved, ""))


def _changes(section: str, values: dict[str, Any], sub: Subscriber) -> tuple[dict[str, Any], str, dict[str, str], list[Any]]:
    """(changes, what to record, errors, industry choices) of one form."""
    errors: dict[str, str] = {}
    if section == "topics":
        topics = [t for t in values["topics"] if t in TOPICS]
        return {"topics": topics}, "关注主题改为：" + ("、".join(topics) or "不限"), errors, []
    if section == "profile":
        code, choices = industries.resolve(values.get("industry", ""))
        if not code:
            errors["industry"] = "请从列表中选择一个行业（可按名称查找）。" if choices else "请填写所属行业。"
        if values.get("region") not in REGIONS:
            errors["region"] = MESSAGES["region"]
        if values.get("scale") not in SCALES:
            errors["scale"] = MESSAGES["scale"]
        changes = {"name": values.get("name", ""), "region": values.get("region", ""), "industry": code or "",
                   "scale": values.get("scale", ""), "qualifications": [q for q in values["qualifications"] if q in QUALIFICATIONS]}
        return changes, "企业信息已更新", errors, choices
    if section == "contacts":
        changes = {k: values.get(k) or None for k in ("email", "mobile", "webhook_url", "wechat_openid")}
        changes["channels"] = values["channels"]
        if values.get("webhook_secret"):
            changes["webhook_secret"] = values["webhook_secret"]
        if not changes["channels"]:
            errors["channels"] = "请至少保留一种接收方式；不想接收可以暂停或退订。"
        if not changes["email"] and not changes["mobile"]:
            errors["email"] = "请至少保留电子邮箱或手机号之一，用于管理订阅。"
        return changes, "接收方式与联系方式已更新", errors, []
    if section == "pace":
        cap = values.get("daily_cap", "")
        if not cap.isdigit():
            errors["daily_cap"] = MESSAGES["daily_cap"]
        return {"quiet_hours": values.get("quiet_hours") or None, "daily_cap": int(cap) if cap.isdigit() else 5}, \
            "免打扰时段与每日上限已更新", errors, []
    if section == "pause":
        paused = values.get("paused") == "yes"
        return {"paused": paused}, "暂停全部推送" if paused else "恢复推送", errors, []
    channel = values.get("channel", "")  # unsubscribe
    if channel not in CHANNEL_NAMES:
        errors["channels"] = "未知的推送方式。"
        return {}, "", errors, []
    undo = values.get("undo") == "yes"
    left = [c for c in sub.unsubscribed if c != channel] if undo else sorted({*sub.unsubscribed, channel})
    return {"unsubscribed": left}, ("重新订阅" if undo else "退订") + CHANNEL_NAMES[channel], errors, []


def _saved_key(section: str, changes: dict[str, Any], values: dict[str, Any]) -> str:
    if section == "pause":
        return "paused" if changes["paused"] else "resumed"
    if section == "unsubscribe":
        return "resubscribed" if values.get("undo") == "yes" else "unsubscribed"
    return section


@router.post("/{token}/{section}", response_class=HTMLResponse)
async def change(request: Request, token: Token, section: str) -> Response:
    form = await request.form()
    values = form_values(form, form.getlist)
    try:
        return await run_in_threadpool(_apply, request, token, section, values)
    except BusUnavailable:
        return unavailable(site_of(request))


def _apply(request: Request, token: str, section: str, values: dict[str, Any]) -> Response:
    try:
        center, sub = _load(request, token)
    except LinkProblem as problem:
        return _link_problem(request, problem)
    if section not in SECTIONS:
        return _link_problem(request, LinkProblem(expired=False))
    if section == "delete":
        if values.get("confirm_delete") != "yes":
            return _render(request, token, sub, status=422, errors={"confirm_delete": "请勾选确认后再删除。"})
        center.erase(sub, client_ip(request))
        return page("outcome", site_of(request), title="订阅登记已删除", ok=True, manage_url="", sent=[],
                    lines=["贵企业的登记信息、联系方式和推送记录已删除，不会再收到推送。", "欢迎随时重新订阅。"],
                    links=[("/subscribe", "重新订阅")])
    changes, what, errors, choices = _changes(section, values, sub)
    if section == "contacts" and (why := webhook_problem(request, changes.get("webhook_url"))):
        errors["webhook_url"] = why
    if not errors:
        try:
            sub, sent = center.change(sub, changes, what, client_ip(request))
        except ValidationError as exc:
            for err in exc.errors():
                where = str(err["loc"][0]) if err["loc"] else "channels"
                errors.setdefault(where if where in MESSAGES else "channels", MESSAGES.get(where, "内容有误，请检查。"))
        else:
            if sent:  # new addresses to confirm: say so on the page
                return _render(request, token, sub, saved=SAVED[section], sent=sent)
            key = _saved_key(section, changes, values)
            return Response(status_code=303, headers={"Location": f"/subscribe/m/{token}?saved={key}#saved", **SECURITY_HEADERS})
    shown = {k: v for k, v in values.items() if k != "webhook_secret"}
    if "industry" in shown:  # what was typed, not the saved industry's name
        shown["industry_label"] = industries.label(shown["industry"])
    return _render(request, token, sub, status=422, errors=errors, values=shown, industry_choices=choices)


@router.get("/{token}/messages", response_class=HTMLResponse)
async def messages(request: Request, token: Token) -> HTMLResponse:
    try:
        _, sub = await run_in_threadpool(_load, request, token)
    except LinkProblem as problem:
        return _link_problem(request, problem)
    items = await run_in_threadpool(views_of(request).messages, sub)
    return page("messages", site_of(request), title="消息中心", current="manage", tab="messages",
                base=f"/subscribe/m/{token}", sub=sub, items=items)


@router.get("/{token}/policies", response_class=HTMLResponse)
async def policies(request: Request, token: Token) -> HTMLResponse:
    try:
        _, sub = await run_in_threadpool(_load, request, token)
    except LinkProblem as problem:
        return _link_problem(request, problem)
    items = await run_in_threadpool(views_of(request).policies_for, sub)
    return page("policies", site_of(request), title="为我匹配的政策", current="manage", tab="policies",
                base=f"/subscribe/m/{token}", sub=sub, items=items)
