"""Tokens and departments (operators): list, create (the secret is shown once), revoke; departments by publisher code.

Uses the token store of the API (`producers.auth.issue_token`, `revoke_token`): the same checks and the same
records as `/v1/tokens` and `govcast token`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from persistence.sessions import Session
from persistence.store import StatusStore
from producers.auth import issue_token, list_tokens, revoke_token
from producers.console.web import CST, SessionDep, check_csrf, page, principal_of, redirect
from producers.errors import Forbidden, Invalid, NotFound

log = logging.getLogger("govcast.console")
router = APIRouter()
KIND_NAMES = {"operator": "操作员", "department": "部门", "business": "企业"}


def _operator(session: Session) -> None:
    if session.kind != "operator":
        raise Forbidden("tokens are managed by operators")


def _listing(request: Request, store: StatusStore, **extra: Any) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    records = list_tokens(store)
    departments: dict[str, set[str]] = {}
    for r in records:
        if r.kind == "department" and r.publisher_code and r.state(now) == "active":
            departments.setdefault(r.publisher_code, set()).add(r.name)
    return page(request, "tokens.html", records=records, now=now, kinds=KIND_NAMES,
                departments={code: sorted(names) for code, names in sorted(departments.items())}, **extra)


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, session: SessionDep) -> HTMLResponse:
    _operator(session)
    return _listing(request, request.app.state.store)


@router.post("/tokens", response_class=HTMLResponse)
def create(request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=100)] = "",
           kind: Annotated[str, Form(max_length=20)] = "", name: Annotated[str, Form(max_length=100)] = "",
           publisher_code: Annotated[str, Form(max_length=40)] = "",
           expires: Annotated[str, Form(max_length=10)] = "") -> HTMLResponse:
    check_csrf(session, csrf)
    _operator(session)
    store: StatusStore = request.app.state.store
    expires_at = None
    if expires:
        try:  # the end of that day, Beijing time
            expires_at = dt.datetime.combine(dt.date.fromisoformat(expires) + dt.timedelta(days=1), dt.time(), tzinfo=CST)
        except ValueError:
            raise Invalid("有效期须为日期（YYYY-MM-DD）") from None
    try:
        record, secret = issue_token(store, kind, name, publisher_code.strip() or None, expires_at=expires_at,
                                     actor=principal_of(session))
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    log.info("console: %s created a %s token for %s", session.name, record.kind, record.name)
    response = _listing(request, store, created=record, secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def confirm_revoke(request: Request, token_id: str, session: SessionDep) -> HTMLResponse:
    _operator(session)
    store: StatusStore = request.app.state.store
    record = store.token_record(token_id[:40])
    if record is None:
        raise NotFound(f"no token {token_id!r}")
    return page(request, "token_revoke.html", record=record, kinds=KIND_NAMES)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: str, session: SessionDep,
           csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    _operator(session)
    if revoke_token(request.app.state.store, token_id[:40], actor=principal_of(session)) is None:
        raise NotFound(f"no token {token_id!r}")
    log.info("console: %s revoked token %s", session.name, token_id)
    return redirect("/console/tokens", done="revoked")
