"""/v1/audit: the audit trail for operators (who did what, to which record, when, from where)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from persistence import audit
from producers.api.deps import PrincipalDep, StoreDep
from producers.errors import Forbidden
from producers.problems import problem_docs
from producers.views import parse_bound

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problem_docs(401, 403, 422, 429))


class AuditActor(BaseModel):
    id: str
    name: str
    kind: str


class AuditEntry(BaseModel):
    seq: int
    at: dt.datetime
    actor: AuditActor
    action: str
    target: str
    detail: dict[str, Any]
    client: str | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before: int | None  # pass as `before` for the next (older) page


@router.get("", response_model=AuditPage, summary="The audit trail, newest first (operators)")
async def audit_trail(
    principal: PrincipalDep,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=60, description="token id of the actor (prn_…)")] = None,
    publication: Annotated[str | None, Query(max_length=60, description="entries about this publication id")] = None,
    target: Annotated[str | None, Query(max_length=60, description="entries about this token id or credit code")] = None,
    action: Annotated[str | None, Query(max_length=40, description="e.g. publication.retract, or a prefix: token.")] = None,
    since: Annotated[str | None, Query(max_length=40, description="at or after: date (Beijing day) or datetime")] = None,
    until: Annotated[str | None, Query(max_length=40, description="before: a date includes that whole day")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="entries older than this seq (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if principal.kind != "operator":
        raise Forbidden("only operators read the audit trail")
    flt = audit.AuditFilter(actor=actor, target=publication or target, action=action,
                            since=parse_bound(since, "since", upper=False), until=parse_bound(until, "until", upper=True),
                            before_seq=before, limit=limit)
    items = await run_in_threadpool(audit.entries, store.engine, flt)
    return {"items": items, "next_before": items[-1]["seq"] if len(items) == limit else None}
