"""/v1/tokens: operators create, list and revoke API tokens (the secret is shown once, in the 201 answer)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from persistence.store import Principal
from producers.api.deps import PrincipalDep, StoreDep
from producers.auth import issue_token, revoke_token, utcnow
from producers.errors import FieldError, Forbidden, Invalid, NotFound
from producers.problems import problem_docs

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], responses=problem_docs(401, 403, 429))
TokenId = Annotated[str, Path(min_length=1, max_length=40, description="token id (`prn_…`)")]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["department", "operator", "business"]
    name: str = Field(min_length=1, max_length=100)
    publisher_code: str | None = Field(default=None, max_length=40,
                                       description="department publisher code or business credit code; none for operators")
    expires_at: dt.datetime | None = Field(default=None, description="optional expiry (with a time zone); none: until revoked")


class TokenOut(BaseModel):
    id: str
    kind: str
    name: str
    publisher_code: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    state: Literal["active", "expired", "revoked"]


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown this once, stored only hashed")


class TokenList(BaseModel):
    items: list[TokenOut]


def _operator(principal: Principal) -> None:
    if principal.kind != "operator":
        raise Forbidden("only operators manage tokens")


@router.get("", response_model=TokenList, summary="List tokens (operators; never their secrets)")
def list_all(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    _operator(principal)
    now = utcnow()
    return {"items": [t.public(now) for t in store.list_tokens()]}


@router.post("", status_code=201, response_model=TokenCreated, summary="Create a token (operators)",
             responses=problem_docs(422))
def create(data: TokenIn, principal: PrincipalDep, store: StoreDep) -> JSONResponse:
    _operator(principal)
    if data.expires_at is not None and data.expires_at.tzinfo is None:
        raise Invalid("bad expires_at", [FieldError("body.expires_at", "give a time zone, e.g. 2026-12-31T18:00:00+08:00")])
    try:
        record, secret = issue_token(store, data.kind, data.name, data.publisher_code, expires_at=data.expires_at,
                                     actor=principal)
    except ValueError as exc:
        field = "body.expires_at" if "expiry" in str(exc) else "body.publisher_code" if "code" in str(exc) else "body"
        raise Invalid(str(exc), [FieldError(field, str(exc))]) from None
    body = record.public(utcnow()) | {"token": secret}
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/tokens/{record.id}", "Cache-Control": "no-store"})


@router.delete("/{token_id}", status_code=204, summary="Revoke a token (operators): refused from the next request on",
               responses=problem_docs(404))
def revoke(token_id: TokenId, principal: PrincipalDep, store: StoreDep) -> Response:
    _operator(principal)
    if revoke_token(store, token_id, actor=principal) is None:
        raise NotFound(f"no token {token_id!r}")
    return Response(status_code=204)
