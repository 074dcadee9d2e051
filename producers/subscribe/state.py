"""The subscription center's objects, made on first use and kept on the app (nothing at import time)."""

from __future__ import annotations

from fastapi import Request

from adapters.common.views import SiteView
from adapters.egress import networks, url_problem
from adapters.portal.config import portal_config
from persistence.selfservice import SelfService
from producers.directory import directory
from producers.subscribe.center import Center
from producers.subscribe.notify import Notifier
from producers.subscribe.views import BusinessViews


def center_of(request: Request) -> Center:
    center: Center | None = getattr(request.app.state, "subscribe_center", None)
    if center is None:
        settings = request.app.state.settings
        subs = directory(request, request.app.state.store)  # the API's store: Kafka mode's change hook included
        center = request.app.state.subscribe_center = Center(subs, SelfService(subs), Notifier.from_settings(settings),
                                                             settings.base_url)
    return center


def views_of(request: Request) -> BusinessViews:
    views: BusinessViews | None = getattr(request.app.state, "subscribe_views", None)
    if views is None:
        views = request.app.state.subscribe_views = BusinessViews(request.app.state.store.engine)
    return views


def site_of(request: Request) -> SiteView:
    """The portal's own view of the site (name, columns, footer facts): the pages wear the portal's header and footer."""
    site: SiteView | None = getattr(request.app.state, "subscribe_site", None)
    if site is None:
        site = request.app.state.subscribe_site = portal_config(request.app.state.settings).site_view()
    return site


def client_ip(request: Request) -> str:
    """The peer address (a reverse proxy in front should pass the client's through uvicorn's --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def webhook_problem(request: Request, url: str | None) -> str | None:
    """The SSRF guard of every directory write (adapters.egress), worded for the form; None when the URL may be used."""
    if not url:
        return None
    why = url_problem(url, networks(request.app.state.settings.webhook_allowed_networks))
    return f"此 Webhook 地址不能使用（{why}）：请填写可从公网访问的 https 地址。" if why else None
