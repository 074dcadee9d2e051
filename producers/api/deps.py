"""Dependencies of the API routes: everything comes from `app.state`, set by `create_app`."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govcast.settings import Settings
from processors.bus import Bus
from processors.status.store import Principal, StatusStore
from producers.api.metrics import ApiMetrics, MetricsDep, get_metrics
from producers.auth import authenticate
from producers.publishing import Publisher

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
    principal = authenticate(store, credentials.credentials if credentials else None)
    return dataclasses.replace(principal, client=request.client.host if request.client else None)


PrincipalDep = Annotated[Principal, Depends(get_principal)]

__all__ = [
    "ApiMetrics", "BusDep", "MetricsDep", "PrincipalDep", "PublisherDep", "SettingsDep", "StoreDep", "bearer",
    "get_metrics", "get_principal",
]
