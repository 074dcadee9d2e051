"""/v1/publications: submit, read, list, revise, retract."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from adapters import channels as channel_registry
from producers.api.deps import MetricsDep, PrincipalDep, PublisherDep, StoreDep, SubmittingDep, bearer_token, submitting_for
from producers.directory import directory
from producers.errors import FieldError, Invalid
from producers.problems import problem_docs
from producers.publishing import MAX_KEY_LENGTH, Outcome
from producers.views import PublicationPage, list_publications, publication_out
from schemas.publication import Accepted, CampaignView, ChannelName, Kind, PublicationIn, PublicationOut, RetractIn

router = APIRouter(prefix="/v1/publications", tags=["publications"], responses=problem_docs(401, 422, 429))

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH,
        description="Same key + same request → the first answer again (header `Idempotent-Replayed: true`); "
        "same key + a different request → 409. Keys are scoped to the token's principal.",
    ),
]
MAX_PAGE = 1_000_000  # beyond, the row offset overflows the databases' 64-bit integers (a 422, not a 500)
PublicationId = Annotated[str, Path(min_length=1, max_length=40, description="publication id (`pub_…`)")]


# JSONResponse's own encoding (json.dumps with these options), the encoder built once instead of per answer
_ANSWER_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def _accepted(outcome: Outcome) -> Response:
    headers = {"Location": outcome.location}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(_ANSWER_JSON.encode(outcome.body).encode("utf-8"), status_code=outcome.status_code, headers=headers,
                    media_type="application/json")


async def submit(
    data: PublicationIn,
    submitting: SubmittingDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Accept a publication for every channel. Only department tokens publish, under their own publisher code.

    The 索引号 is allocated when `index_no` is left out. The answer comes once the
    publication is durably recorded and on the bus; on 503 nothing was kept.
    """
    # async: the request waits for the group commit without holding a thread-pool thread
    principal, publisher, metrics = submitting.principal, submitting.publisher, submitting.metrics
    outcome = await metrics.counted_async(
        metrics.submissions, (data.kind.value,),
        lambda: publisher.submit_async(principal, data, idempotency_key=idempotency_key),
    )
    return _accepted(outcome)


class SubmitRoute(APIRoute):
    """The submit route with a fast path for the usual request, the API's hot path: a JSON body that is a valid
    `PublicationIn` is validated straight from its bytes (no `json.loads`, no dict), and the route's one
    dependency is called directly instead of through FastAPI's dependency solving -- together about a tenth
    of the server's CPU per submission. Anything else (another content type, a body or an Idempotency-Key
    that fails validation, dependency overrides) takes FastAPI's own path, so its answers (422 documents,
    their metrics, the order of 401 before 422) are exactly those of any other route. The OpenAPI document
    is FastAPI's (the route is declared as usual)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()

        async def handler(request: Request) -> Response:
            headers = request.headers
            content_type = headers.get("content-type", "")
            keys = headers.getlist("idempotency-key")
            if (content_type.partition(";")[0].strip().lower() != "application/json" or len(keys) > 1
                    or (keys and not 1 <= len(keys[0]) <= MAX_KEY_LENGTH) or request.app.dependency_overrides):
                return await general(request)
            try:
                data = PublicationIn.model_validate_json(await request.body())
            except ValidationError:
                return await general(request)  # FastAPI reads the (cached) body again and answers its 422
            submitting = await submitting_for(request, bearer_token(request))  # as `bearer` reads the header
            return await submit(data, submitting, keys[0] if keys else None)

        return handler


router.add_api_route(
    "",
    submit,
    methods=["POST"],
    status_code=202,
    response_model=Accepted,
    summary="Submit a publication",
    responses=problem_docs(400, 403, 409, 413, 503),
    route_class_override=SubmitRoute,
)


@router.get("", response_model=PublicationPage, summary="List publications", responses=problem_docs(403))
def listing(
    principal: PrincipalDep,
    store: StoreDep,
    status: Annotated[str | None, Query(max_length=30, description="overall status, e.g. delivered")] = None,
    channel: Annotated[ChannelName | None, Query(description="publications targeting this channel")] = None,
    kind: Annotated[Kind | None, Query()] = None,
    department: Annotated[str | None, Query(max_length=40, description="publisher code (operators only)")] = None,
    since: Annotated[str | None, Query(description="created at or after: date (Beijing day) or datetime")] = None,
    until: Annotated[str | None, Query(description="created before: a date includes that whole day")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PublicationPage:
    """Newest first. Departments see only their own publications; operators see all."""
    if channel is not None and channel not in channel_registry.names():
        raise Invalid("The request is not valid", [FieldError(
            "query.channel", f"unknown channel {channel!r}; known: {', '.join(channel_registry.names())}")])
    return list_publications(
        store, principal, status=status, channel=channel, kind=kind.value if kind else None,
        department=department, since=since, until=until, page=page, per_page=per_page,
    )


@router.get("/{publication_id}", response_model=PublicationOut, summary="One publication with per-channel status",
            responses=problem_docs(404))
def get_one(publication_id: PublicationId, principal: PrincipalDep, store: StoreDep, request: Request) -> PublicationOut:
    """The publication as stored, its overall status, each channel's delivery, the push campaign, the timeline
    and what screening (先审后发) finds in it (`findings`: rule, severity block/hold/warn, field, masked excerpt)."""
    out = publication_out(store, principal, publication_id)
    if "push" in out.deliveries:
        counts = directory(request, store).summary(out.id, out.version)
        out.campaign = CampaignView(version=out.version, **counts)
    return out


@router.put(
    "/{publication_id}",
    status_code=202,
    response_model=Accepted,
    summary="Revise a publication",
    responses=problem_docs(400, 403, 404, 409, 413, 503),
)
def revise(
    publication_id: PublicationId,
    data: PublicationIn,
    principal: PrincipalDep,
    publisher: PublisherDep,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The next version (same id, same 索引号), delivered to every channel again. Owner department only."""
    outcome = metrics.counted(
        metrics.revisions, (data.kind.value,),
        lambda: publisher.revise(principal, publication_id, data, idempotency_key=idempotency_key),
    )
    return _accepted(outcome)


@router.post(
    "/{publication_id}/retract",
    status_code=202,
    response_model=Accepted,
    summary="Retract a publication from every channel",
    responses=problem_docs(400, 403, 404, 409, 413, 503),
)
def retract(
    publication_id: PublicationId,
    data: RetractIn,
    principal: PrincipalDep,
    publisher: PublisherDep,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Withdraw it everywhere (the owner department or any operator); the reason is kept with the record."""
    outcome = metrics.counted(
        metrics.retractions, (), lambda: publisher.retract(principal, publication_id, data, idempotency_key=idempotency_key)
    )
    return _accepted(outcome)


@router.post(
    "/{publication_id}/approve",
    status_code=202,
    response_model=Accepted,
    summary="Release a publication held by screening (operators)",
    responses=problem_docs(403, 404, 409, 503),
)
def approve(publication_id: PublicationId, principal: PrincipalDep, publisher: PublisherDep) -> Response:
    """先审后发: screening holds items with internal-only wording or unmasked mobile and bank card numbers; an
    operator who has checked them releases them here (a department fixes them with a revision instead). Items
    blocked by screening (classification marks, ID numbers) cannot be approved: 409 naming the findings."""
    return _accepted(publisher.approve(principal, publication_id))
