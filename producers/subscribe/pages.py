"""/subscribe: sign-up (one form), confirmation by email link or SMS code, the manage-link request, privacy notice.

Server-rendered, no JavaScript needed; a GET never changes anything (mail scanners open links), forms POST.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from processors.bus import BusUnavailable
from producers.subscribe.center import CHANNEL_NAMES, Center, ConfirmResult
from producers.subscribe.forms import credit_code_message, form_values, parse_signup
from producers.subscribe.render import SECURITY_HEADERS, own_asset, page, portal_asset, unavailable
from producers.subscribe.state import center_of, client_ip, site_of, webhook_problem
from schemas import industries

router = APIRouter(prefix="/subscribe", tags=["subscription center"], include_in_schema=False)
Ref = Annotated[str, Path(max_length=100)]
ASSETS = {"site.css": ("portal", "text/css"), "a11y.js": ("portal", "text/javascript"),
          "subscribe.css": ("own", "text/css")}
OUTCOME_LINES = {
    "wrong": "验证码不正确。",
    "locked": "错误次数过多，此验证码已失效。请重新提交以获取新的验证码。",
    "expired": "此链接或验证码已过期，请重新提交以获取新的。",
    "used": "此链接或验证码已经使用过，不能重复使用。如需更改订阅，请使用“管理我的订阅”。",
    "unknown": "此链接或验证码无效。",
    "taken": "该统一社会信用代码已由他人登记，本次申请未生效。如有疑问请联系主办单位。",
    "gone": "该订阅已删除或联系方式已更改，本次确认未生效。",
}


@router.get("/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return PlainTextResponse("not found", status_code=404)
    where, media = ASSETS[name]
    text = portal_asset(name) if where == "portal" else own_asset(name)
    return Response(text, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


@router.get("", response_class=HTMLResponse)
def signup_form(request: Request) -> HTMLResponse:
    return page("signup", site_of(request), title="订阅惠企政策推送", current="signup",
                values={"channels": ["email"], "topics": [], "qualifications": []})


@router.post("", response_class=HTMLResponse)
async def signup(request: Request) -> HTMLResponse:
    form = await request.form()
    values = form_values(form, form.getlist)
    site = site_of(request)
    if values.get("action") == "find_industry":  # the no-JS picker: the same form again, with matches to choose from
        found = industries.search(values.get("industry", ""))
        errors = {} if found else {"industry": "没有找到这个行业，请换个名称查找。"}
        return page("signup", site, title="订阅惠企政策推送", current="signup", values=values, industry_choices=found,
                    errors=errors)
    parsed = parse_signup(values)
    if parsed.record is not None and (why := await run_in_threadpool(webhook_problem, request, parsed.record.webhook_url)):
        parsed.errors["webhook_url"], parsed.record = why, None
    if parsed.record is None:
        return page("signup", site, 422, title="订阅惠企政策推送：请修改", current="signup", values=values,
                    errors=parsed.errors, industry_choices=parsed.industry_choices)
    center = center_of(request)
    result = await run_in_threadpool(center.signup, parsed.record, client_ip(request))
    title = "请用已登记的联系方式确认" if result.existing else "请确认您的订阅"
    return page("sent", site, 202, title=title, existing=result.existing, sent=result.sent,
                credit_code=parsed.record.credit_code)


def _outcome_page(request: Request, result: ConfirmResult) -> HTMLResponse:
    site = site_of(request)
    if result.outcome == "confirmed":
        lines = {"signup": ["订阅已确认。与贵企业相关的新政策将按您选择的方式推送。"],
                 "change": ["更改已确认并生效。"],
                 "verify": [f"{CHANNEL_NAMES.get(result.channel, '')}地址已确认，将通过它接收推送。"],
                 "manage": ["验证成功。"]}[result.purpose]
        return page("outcome", site, title="确认成功", ok=True, lines=lines, manage_url=result.manage_url, sent=result.sent,
                    links=[])
    lines = [OUTCOME_LINES[result.outcome]]
    links = [("/subscribe", "重新订阅"), ("/subscribe/manage", "管理我的订阅")]
    return page("outcome", site, 410 if result.outcome in ("expired", "used", "locked") else 400, title="未能确认",
                ok=False, lines=lines, manage_url="", sent=[], links=links)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: Ref) -> HTMLResponse:
    """The emailed link shows a button; only its POST confirms (link scanners follow GETs)."""
    ref, _, _ = token.partition(".")
    row = center_of(request).selfservice.peek(ref)
    purpose = row.purpose if row is not None else "signup"
    title, action = {"change": ("确认更改登记信息", "确认更改"), "verify": ("确认邮箱", "确认邮箱")}.get(
        purpose, ("确认订阅惠企政策推送", "确认订阅"))
    explain = (f"统一社会信用代码 {row.credit_code}。" if row is not None else "") + "点击下方按钮完成确认；如非本人操作，请直接关闭本页。"
    return page("confirm", site_of(request), title=title, action=action, explain=explain)


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: Ref) -> HTMLResponse:
    ref, _, secret = token.partition(".")
    center = center_of(request)
    try:
        result = await run_in_threadpool(center.confirm, ref, secret, client_ip(request))
    except BusUnavailable:
        return unavailable(site_of(request))
    return _outcome_page(request, result)


@router.get("/verify/{ref}", response_class=HTMLResponse)
def code_form(request: Request, ref: Ref) -> HTMLResponse:
    return page("code", site_of(request), title="输入短信验证码", ref=ref, problem="", masked="")


@router.post("/verify/{ref}", response_class=HTMLResponse)
async def verify(request: Request, ref: Ref) -> Response:
    form = await request.form()
    code = str(form.get("code") or "").strip()
    center = center_of(request)
    if not (len(code) == 6 and code.isdigit()):
        return page("code", site_of(request), 422, title="输入短信验证码", ref=ref, problem="请输入短信中的6位数字验证码。",
                    masked="")
    try:
        result = await run_in_threadpool(center.confirm, ref, code, client_ip(request))
    except BusUnavailable:
        return unavailable(site_of(request))
    if result.outcome == "wrong":
        return page("code", site_of(request), 422, title="输入短信验证码", ref=ref, masked="",
                    problem=f"验证码不正确，还可以再试{result.attempts_left}次。")
    if result.outcome == "confirmed" and result.purpose == "manage":
        return Response(status_code=303, headers={"Location": result.manage_url, **SECURITY_HEADERS})
    return _outcome_page(request, result)


@router.get("/manage", response_class=HTMLResponse)
def manage_request_form(request: Request) -> HTMLResponse:
    return page("manage_request", site_of(request), title="管理我的订阅", current="manage")


@router.post("/manage", response_class=HTMLResponse)
async def manage_request(request: Request) -> HTMLResponse:
    form = await request.form()
    values: dict[str, Any] = {"credit_code": str(form.get("credit_code") or "").strip().upper(),
                              "via": "sms" if form.get("via") == "sms" else "email"}
    site = site_of(request)
    if message := credit_code_message(values["credit_code"]):
        return page("manage_request", site, 422, title="管理我的订阅：请修改", current="manage", values=values,
                    errors={"credit_code": message})
    center: Center = center_of(request)
    sent = await run_in_threadpool(center.request_manage, values["credit_code"], values["via"], client_ip(request))
    if sent.limited:
        lines = ["请求过于频繁，请一小时后再试。"]
    elif values["via"] == "sms":
        return page("code", site, 202, title="输入短信验证码", ref=sent.ref, problem="",
                    masked=sent.masked or "该企业已验证的手机（如已登记）")
    else:
        lines = ["如果该企业已登记并验证了电子邮箱，管理链接已发送到该邮箱，24小时内有效。",
                 "没有收到？请检查垃圾邮件，或改用短信验证码。"]
    return page("outcome", site, 202, title="请查收邮件", ok=not sent.limited, lines=lines, manage_url="", sent=[],
                links=[("/subscribe/manage", "返回")])


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    return page("privacy", site_of(request), title="个人信息处理说明")
