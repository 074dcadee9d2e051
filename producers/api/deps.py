"""Dependencies of the API routes: everything comes from `app.state`, set by `create_app`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> StatusStore:
    store: StatusStore = request.app.state.store
    return store


def get_bus(request: Request) -> Bus:
    bus: Bus = request.app.state.bus
    return bus


def get_publisher(request: Request) -> Publisher:
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

__all__ = [
    "ApiMetrics", "BusDep", "MetricsDep", "PrincipalDep", "PublisherDep", "SettingsDep", "StoreDep", "bearer",
    "get_metrics", "get_principal",
]
