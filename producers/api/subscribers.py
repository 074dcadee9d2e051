"""/v1/subscribers: the push directory (operators manage all; a business token manages only its own record),
and `/u/{token}`: RFC 8058 one-click unsubscribe (signed token, no cookies, no redirect).

Contacts (mobile, email, webhook URL, WeChat openid) are masked in every answer (138****5678, z***@example.com).
Whoever must correct a record reads that one record with `?reveal=contacts` (or just the one contact it needs,
`?reveal=mobile`): in clear, and on the audit trail (`subscriber.reveal`: who, when, which record, which fields)."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from adapters.egress import networks, url_problem
from adapters.push.unsubscribe import read_token
from persistence import audit
from persistence.audit import Actor
from persistence.store import Principal
from persistence.subscribers import SubscriberStore
from processors.bus import BusUnavailable
from producers.api.deps import PrincipalDep, StoreDep
from producers.directory import directory
from producers.errors import Conflict, FieldError, Forbidden, Invalid, NotFound, Unavailable
from producers.problems import problem_docs
from schemas.contacts import CONTACT_FIELDS
from schemas.subscriber import SubscriberFields, SubscriberIn, credit_code_problem

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"], responses=problem_docs(401, 403, 422, 429, 503))
unsubscribe_router = APIRouter(tags=["subscribers"])
CreditCode = Annotated[str, Path(min_length=18, max_length=18, description="unified social credit code")]
Reveal = Annotated[Literal["contacts", "mobile", "email", "webhook_url", "wechat_openid"] | None, Query(
    description="`contacts`: this record's contacts in clear, or only the one named (audited)")]

MAX_OFFSET = 100_000_000  # far beyond any directory; larger values overflow the database's integers

UNSUBSCRIBE_NAMES = {"all": "全部推送", "sms": "短信推送", "email": "邮件推送", "webhook": "Webhook 推送",
                     "wechat_template": "微信模板消息推送"}


def _allowed(principal: Principal, credit_code: str) -> None:
    if principal.kind == "operator":
        return
    if principal.kind == "business" and principal.publisher_code == credit_code:
        return
    raise Forbidden("operators manage every subscriber; a business token manages only its own record")


def _valid_code(credit_code: str) -> str:
    code = credit_code.upper()
    problem = credit_code_problem(code)
    if problem:
        raise Invalid(f"credit_code: {problem}")
    return code


@contextlib.contextmanager
def _bus_up() -> Iterator[None]:
    """In Kafka mode a directory change is produced to its topic before it commits: no broker, no change (503)."""
    try:
        yield
    except BusUnavailable as exc:
        raise Unavailable("the message bus is unavailable; nothing was changed, retry later") from exc


def _reachable_webhook(request: Request, data: SubscriberIn) -> None:
    """SSRF guard at save time (adapters.egress): no inward, numeric-form or credential-carrying webhook URLs."""
    if data.webhook_url:
        allowed = networks(request.app.state.settings.webhook_allowed_networks)
        if why := url_problem(data.webhook_url, allowed):
            raise Invalid(f"webhook_url {why}", [FieldError("body.webhook_url", f"{why}; webhooks go to public addresses "
                                                            "(an operator can allow on-premises networks)")])


def _push_offered(request: Request, actor: Principal) -> None:
    """No business sign-up that silently goes nowhere: without the push channel nothing would be sent to it.
    Operators may still prepare the directory before push is switched on; reading and deleting stay possible
    for everyone (a business may always see and erase what is kept about it)."""
    if actor.kind == "business" and "push" not in request.app.state.settings.channels:
        raise Conflict("policy push is not offered here: 'push' is not a configured channel (GOVCAST_CHANNELS), "
                       "so no subscriber is created or changed")


def _save(request: Request, subs: SubscriberStore, data: SubscriberIn, actor: Principal) -> JSONResponse:
    _push_offered(request, actor)
    _reachable_webhook(request, data)
    with _bus_up():
        sub, created = subs.upsert(data, actor=actor)
    return JSONResponse(sub.public(), status_code=201 if created else 200,
                        headers={"Location": f"/v1/subscribers/{sub.credit_code}"})


@router.post("", status_code=201, summary="Create or replace a subscriber", responses=problem_docs(400, 409))
def create(data: SubscriberIn, principal: PrincipalDep, request: Request, store: StoreDep) -> JSONResponse:
    _allowed(principal, data.credit_code)
    return _save(request, directory(request, store), data, principal)


@router.get("", summary="List subscribers (operators)")
def list_subscribers(principal: PrincipalDep, request: Request, store: StoreDep,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
                     reveal: Annotated[str | None, Query(max_length=20, include_in_schema=False)] = None) -> dict[str, Any]:
    if principal.kind != "operator":
        raise Forbidden("only operators list the directory; a business reads /v1/subscribers/{its credit code}")
    if reveal is not None:  # said plainly rather than ignored: a list never shows contacts in clear
        raise Invalid("reveal: contacts are shown in clear for one record only: GET /v1/subscribers/{credit code}"
                      "?reveal=contacts", [FieldError("query.reveal", "only on a single-record request")])
    total, items = directory(request, store).list(limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "items": [s.public() for s in items]}


@router.get("/{credit_code}", summary="Read one subscriber", responses=problem_docs(404))
def read(credit_code: CreditCode, principal: PrincipalDep, request: Request, store: StoreDep,
         reveal: Reveal = None) -> dict[str, Any]:
    """Contacts masked; `?reveal=contacts` (or one contact's field name) shows them in clear and records who saw
    which of this record's contacts when."""
    code = _valid_code(credit_code)
    _allowed(principal, code)
    sub = directory(request, store).get(code)
    if sub is None:
        raise NotFound(f"no subscriber {code}")
    if reveal is None:
        return sub.public()
    shown = [name for name in CONTACT_FIELDS if getattr(sub, name) and reveal in ("contacts", name)]
    audit.record_now(store.engine, principal, "subscriber.reveal", code, {"fields": shown})
    return sub.public(reveal=shown)


@router.put("/{credit_code}", summary="Create or replace a subscriber", responses=problem_docs(400, 409))
def replace(credit_code: CreditCode, data: SubscriberFields, principal: PrincipalDep, request: Request,
            store: StoreDep) -> JSONResponse:
    code = _valid_code(credit_code)
    _allowed(principal, code)
    return _save(request, directory(request, store), SubscriberIn.model_validate({**data.model_dump(), "credit_code": code}),
                 principal)


@router.delete("/{credit_code}", status_code=204, summary="Remove a subscriber (no further pushes)",
               responses=problem_docs(404))
def remove(credit_code: CreditCode, principal: PrincipalDep, request: Request, store: StoreDep) -> PlainTextResponse:
    code = _valid_code(credit_code)
    _allowed(principal, code)
    with _bus_up():
        gone = directory(request, store).delete(code, principal)
    if not gone:
        raise NotFound(f"no subscriber {code}")
    return PlainTextResponse("", status_code=204)


def _token(request: Request, store: StoreDep, token: str) -> tuple[SubscriberStore, str, str, str]:
    subs = directory(request, store)
    found = read_token(subs.secret("unsubscribe"), token)
    if found is None:
        raise NotFound("this unsubscribe link is not valid")
    return subs, *found


@unsubscribe_router.post("/u/{token}", summary="One-click unsubscribe (RFC 8058)", responses=problem_docs(404))
def unsubscribe(token: Annotated[str, Path(max_length=200)], request: Request, store: StoreDep) -> PlainTextResponse:
    """`List-Unsubscribe=One-Click` POST from the mail client (or the confirmation form): no cookies, no redirect."""
    subs, code, channel, campaign = _token(request, store, token)
    before = subs.get(code)
    link = Actor(id=f"link:{code}", name="one-click unsubscribe link", kind="link",
                 client=request.client.host if request.client else None)
    with _bus_up():
        subs.unsubscribe(code, channel, link)
    if campaign and before is not None and not {channel, "all"} & set(before.unsubscribed):
        subs.click(campaign, "unsubscribe")  # the campaign that lost this business (a count, as for clicks)
    return PlainTextResponse(f"已退订{UNSUBSCRIBE_NAMES[channel]}。unsubscribed from {channel}")


@unsubscribe_router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe confirmation page",
                        responses=problem_docs(404))
def unsubscribe_page(token: Annotated[str, Path(max_length=200)], request: Request, store: StoreDep) -> HTMLResponse:
    """A GET changes nothing (link scanners follow links); the page's button POSTs the same URL."""
    _, _, channel, _ = _token(request, store, token)
    name = html.escape(UNSUBSCRIBE_NAMES[channel])
    return HTMLResponse(f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>退订</title>'
                        f'<body><form method="post"><p>退订{name}？</p>'
                        f'<button type="submit">确认退订</button></form></body></html>')
