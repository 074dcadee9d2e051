"""Dependencies of the API routes: everything comes from `app.state`, set by `create_app`.

The ones that only read `app.state` are `async def`: FastAPI runs a plain `def` dependency
in its thread pool, and that hop cost more CPU than most of a submission.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from persistence.ratelimit import RateLimiter, retry_after_header
from persistence.store import Principal, StatusStore
from processors.bus import Bus
from producers.api.metrics import ApiMetrics, MetricsDep, get_metrics
from producers.auth import authenticate_client
from producers.errors import TooManyRequests
from producers.publishing import Publisher
from settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="A department or operator token (`gct_…`), created with `govcast token create`.",
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> StatusStore:
    store: StatusStore = request.app.state.store
    return store


async def get_bus(request: Request) -> Bus:
    bus: Bus = request.app.state.bus
    return bus


async def get_publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[StatusStore, Depends(get_store)]
BusDep = Annotated[Bus, Depends(get_bus)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]


def get_principal(
    request: Request, store: StoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The authenticated caller, with the address it called from (for the audit trail). A sync dependency:
    the store lookup runs in the threadpool, on every request (no cache: revocation takes effect at once)."""
    client = request.client.host if request.client else None
    principal = authenticate_client(store, credentials.credentials if credentials else None,
                                    request.app.state.failed_guesses, client)
    return _limited(request, principal, client)


@dataclasses.dataclass(frozen=True)
class Submitting:
    """What the submit route works with, from ONE dependency (its caller, the publisher, the counters): each
    dependency FastAPI solves costs about as much CPU per request as validating the publication's body, and
    submissions are the API's hot path. The OpenAPI document is the same (the bearer scheme stays a dependency)."""

    principal: Principal
    publisher: Publisher
    metrics: ApiMetrics


async def get_submitting(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Submitting:
    """`get_principal` for submissions: the principal from the publisher's token cache when the token was
    seen live before (no store read), else from the store. The group commit checks the token again in
    the transaction that would keep the submission, so a revoked token is still refused at once."""
    return await submitting_for(request, credentials.credentials if credentials else None)


def bearer_token(request: Request) -> str | None:
    """What `bearer` (HTTPBearer, auto_error off) makes of the request's Authorization header, as a string: the
    credentials of a `Bearer` header, else None (the submit route's fast path: no credentials model per request)."""
    authorization = request.headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)  # as HTTPBearer splits it
    return credentials if authorization and scheme and credentials and scheme.lower() == "bearer" else None


async def submitting_for(request: Request, token: str | None) -> Submitting:
    """`get_submitting` for the bearer token `token` (None: none sent)."""
    state = request.app.state
    publisher: Publisher = state.publisher
    client = request.client.host if request.client else None
    principal = publisher.tokens.lookup(token, state.failed_guesses, client)
    if principal is None:
        principal = await run_in_threadpool(publisher.tokens.authenticate_fresh, token, state.failed_guesses, client)
    if state.rate_limiter is not None:
        principal = await run_in_threadpool(_limited, request, principal, client)  # a store write: not on the event loop
    else:
        principal = _limited(request, principal, client)
    return Submitting(principal, publisher, state.metrics)


def _limited(request: Request, principal: Principal, client: str | None) -> Principal:
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None and not (decision := limiter.check(principal.id)).allowed:
        settings: Settings = request.app.state.settings
        raise TooManyRequests(
            f"this token may make {settings.rate_limit_per_second:g} requests a second (bursts of "
            f"{settings.rate_limit_burst}); retry after {decision.retry_after:.1f} s",
            retry_after_header(decision.retry_after),
        )
    return dataclasses.replace(principal, client=client)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
SubmittingDep = Annotated[Submitting, Depends(get_submitting)]

__all__ = [
    "ApiMetrics", "BusDep", "MetricsDep", "PrincipalDep", "PublisherDep", "SettingsDep", "StoreDep", "Submitting", "SubmittingDep",
    "bearer", "bearer_token", "get_metrics", "get_principal", "get_submitting", "submitting_for",
]
