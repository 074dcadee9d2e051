"""Actions, each confirmed first: GET shows what will happen (with the count, for bulk requeues), POST does it.

Operators: retry one delivery now, requeue one dead letter or all of a channel, approve or reject a held item,
pause and resume a channel, retract. Departments: retract their own publications. Every POST carries the
session's CSRF token; every action is signed with the person's name on the timeline (or the pause record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from persistence.sessions import Session
from persistence.store import StatusStore
from processors.screen import screen
from producers.console.steering import Steering
from producers.console.web import SessionDep, check_csrf, page, principal_of, redirect
from producers.errors import Forbidden, Invalid, NotFound
from producers.publishing import Publisher
from schemas.publication import Publication, RetractIn
from schemas.screening import Severity

router = APIRouter()
Field = Annotated[str, Form(max_length=200)]


@dataclass(frozen=True)
class ActionSpec:
    title: str
    button: str
    operator_only: bool = True
    reason: str = ""  # label of a required reason field; "" = none
    danger: bool = False


ACTIONS = {
    "retry": ActionSpec("立即重试这条投递", "确认重试"),
    "requeue": ActionSpec("重新投递这条死信", "确认重新投递"),
    "requeue-channel": ActionSpec("重新投递该渠道的全部死信", "确认全部重新投递"),
    "retract": ActionSpec("撤回这条信息（所有渠道）", "确认撤回", operator_only=False, reason="撤回原因", danger=True),
    "approve": ActionSpec("审核通过并发布", "确认通过"),
    "reject": ActionSpec("审核不通过（撤回，部门须修改后重新报送）", "确认不通过", reason="不通过的原因", danger=True),
    "pause": ActionSpec("暂停该渠道（一秒内对所有投递生效；投递排队等待，不会丢失）", "确认暂停", reason="暂停原因", danger=True),
    "resume": ActionSpec("恢复该渠道", "确认恢复"),
}


def _spec(action: str, session: Session) -> ActionSpec:
    spec = ACTIONS.get(action)
    if spec is None:
        raise NotFound(f"no console action {action!r}")
    if spec.operator_only and session.kind != "operator":
        raise Forbidden("this action is for operators")
    return spec


def _own_publication(store: StatusStore, session: Session, publication_id: str) -> Publication:
    row = store.publication_row(publication_id[:40]) if publication_id else None
    if row is None or (session.kind == "department" and row.department != session.publisher_code):
        raise NotFound(f"no publication {publication_id!r}")
    return Publication.model_validate_json(row.doc)


@router.get("/actions/{action}", response_class=HTMLResponse)
def confirm(request: Request, action: str, session: SessionDep, pub: str = "", channel: str = "",
            letter: str = "", back: str = "") -> HTMLResponse:
    spec = _spec(action, session)
    store: StatusStore = request.app.state.store
    publication = _own_publication(store, session, pub) if pub else None
    count = None
    if action == "requeue-channel":
        count = store.open_dead_letter_counts().get(channel, 0)
    findings = screen(publication) if publication is not None and action in ("approve", "reject") else []
    blocked = any(f.severity is Severity.block for f in findings)
    return page(request, "confirm.html", action=action, spec=spec, publication=publication, channel=channel,
                letter=letter, count=count, back=_back(back, pub), findings=findings, blocked=blocked)


@router.post("/actions/{action}")
def perform(request: Request, action: str, session: SessionDep, csrf: Field = "", pub: Field = "", channel: Field = "",
            letter: Field = "", back: Field = "", reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    check_csrf(session, csrf)
    spec = _spec(action, session)
    store: StatusStore = request.app.state.store
    steering: Steering = request.app.state.steering
    publisher: Publisher = request.app.state.publisher
    who = principal_of(session)
    if spec.reason and not reason.strip():
        raise Invalid(f"{spec.reason} is required")
    done, n = action, None
    if action == "retry":
        done = steering.retry_now(who, pub, channel)
    elif action == "requeue":
        n = steering.requeue(who, event_id=letter)
    elif action == "requeue-channel":
        n = steering.requeue(who, channel=channel)
    elif action == "retract":
        _own_publication(store, session, pub)
        publisher.retract(who, pub, RetractIn(reason=reason.strip()))
    elif action == "approve":
        publisher.approve(who, pub)
    elif action == "reject":
        publisher.retract(who, pub, RetractIn(reason=f"审核不通过：{reason.strip()}"))
    elif action == "pause":
        steering.pause(who, channel, reason.strip())
    elif action == "resume":
        steering.resume(who, channel)
    return redirect(_back(back, pub), done=done, n=n)


def _back(back: str, pub: str) -> str:
    if back.startswith("/console/") and not back.startswith("//"):
        return back
    return f"/console/publications/{pub}" if pub else "/console/"
