"""RFC 9457 problem details for every error the API answers.

`{type, title, status, detail, instance, errors: [{field, message}]}` with
content type `application/problem+json`. Field paths are dotted with list
indexes and start with where the value came from (`body.related.0.id`,
`query.per_page`, `header.Idempotency-Key`). Problems govcast itself defines
have a `urn:govcast:problem:<slug>` type; plain HTTP errors use `about:blank`.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.errors import FieldError, PublishError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("govcast.api")
TYPE_PREFIX = "urn:govcast:problem:"

# Model-level checks of schemas.PublicationFields report at `body`; these name the field they are about.
_MODEL_CHECK_FIELDS = (
    ("索引号 must start", "index_no"),
    ("publish_date", "publish_date"),
    ("publish_at", "publish_at"),
    ("an interpretation needs", "related"),
)


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemField] = []


def problem_response(
    status: int,
    *,
    instance: str | None,
    detail: str | None = None,
    title: str | None = None,
    slug: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_PREFIX + slug if slug else "about:blank",
        title=title or http.HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=[ProblemField(field=e.field, message=e.message) for e in errors],
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """pydantic/FastAPI error dicts → one FieldError per failing field, with the validators' own messages."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        message = str(err.get("msg", "invalid value"))
        kind = err.get("type")
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
            if loc == ["body"]:
                loc += [name for prefix, name in _MODEL_CHECK_FIELDS if message.startswith(prefix)][:1]
        elif kind == "model_attributes_type" and loc == ["body"]:
            message = "send a JSON object with `Content-Type: application/json`"
        out.append(FieldError(".".join(loc) or "body", message))
    return out


def _instance(request: Request) -> str:
    return request.url.path


async def _publish_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PublishError)
    return problem_response(
        exc.status, instance=_instance(request), detail=exc.detail, title=exc.title, slug=exc.slug,
        errors=exc.errors, headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    malformed = [e for e in errors if e.get("type") == "json_invalid"]
    if malformed:
        err = malformed[0]
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        position = err.get("loc", ("body", "?"))[-1]
        return problem_response(
            400, instance=_instance(request), slug="malformed-json", title="Malformed JSON",
            detail=f"the request body is not valid JSON: {reason} (at character {position})",
            errors=[FieldError("body", f"{reason} (at character {position})")],
        )
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.observe_invalid(request.method, request.url.path, exc.body)
    found = field_errors(errors)
    return problem_response(
        422, instance=_instance(request), slug="validation", title="The request is not valid",
        detail=f"{len(found)} field(s) failed validation: " + ", ".join(dict.fromkeys(e.field for e in found)),
        errors=found,
    )


_ROUTE_HINTS = {
    404: "no such resource; the API is under /v1 (see /docs)",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = http.HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else _ROUTE_HINTS.get(exc.status_code)
    return problem_response(exc.status_code, instance=_instance(request), detail=detail, headers=exc.headers)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The status store (SQLite busy for 30 s, PostgreSQL down) is an outage, not a bug: nothing was kept.
    log.warning("status store unavailable answering %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        503, instance=_instance(request), slug="store-unavailable", title="Status store unavailable",
        detail="the status store is unavailable; nothing was accepted, retry later", headers={"Retry-After": "5"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PublishError, _publish_error)
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem answers (moved to problem+json by `use_problem_media_type`)."""
    return {status: {"model": Problem, "description": http.HTTPStatus(status).phrase} for status in statuses}


def use_problem_media_type(app: FastAPI) -> None:
    """Declare problem answers as `application/problem+json` in the OpenAPI document (FastAPI says application/json)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        # under whatever media type the route answers on success (JSON, HTML, text)
                        problem = next((media for media in content.values()
                                        if media.get("schema", {}).get("$ref", "").endswith("/Problem")), None)
                        if problem is not None:
                            response["content"] = {PROBLEM_JSON: problem}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
