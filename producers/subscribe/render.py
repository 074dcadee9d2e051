"""Templates of the subscription pages (own package, the portal's stylesheet and reading aids), autoescaped."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from adapters.common.views import SiteView
from adapters.portal.render import environment as portal_environment
from producers.subscribe import forms
from schemas import industries

CST = dt.timezone(dt.timedelta(hours=8))
SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff"}


@pass_context
def described(context: Context, name: str) -> Markup:
    """aria-describedby/aria-invalid of a field with an error (screen readers read the message with the field)."""
    errors = context.get("errors") or {}
    return Markup(f' aria-describedby="e-{name}" aria-invalid="true"') if name in errors else Markup("")


def local(moment: dt.datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


@functools.cache
def environment() -> Environment:
    # The portal's templates come second: its header and footer (_site_chrome.html) are the site's, shared.
    loader = ChoiceLoader([PackageLoader("producers.subscribe", "templates"), PackageLoader("adapters.portal", "templates")])
    env = Environment(loader=loader, autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(described=described, regions=forms.REGIONS, scales=forms.SCALE_OPTIONS,
                       qualifications=forms.QUALIFICATIONS, topics=forms.TOPICS, channels=forms.CHANNELS,
                       industry_options=industries.options())
    env.filters["local"] = local
    return env


def page(name: str, site: SiteView, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("errors", {})
    values.setdefault("values", {})
    values.setdefault("industry_choices", [])
    values.setdefault("current", "")
    values.setdefault("keeps_secret", False)
    values.setdefault("offered", True)  # False: policy push is not a configured channel (no manage link in the menu)
    html = environment().get_template(f"subscribe/{name}.html").render(site=site, **values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


@functools.cache
def portal_asset(name: str) -> str:
    """The portal's own stylesheet and reading-aid script, served as files (no inline style or script)."""
    env = portal_environment()
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


@functools.cache
def own_asset(name: str) -> str:
    env = environment()
    assert env.loader is not None
    return env.loader.get_source(env, f"subscribe/{name}")[0]


def unavailable(site: SiteView) -> HTMLResponse:
    """Kafka mode with the broker down: the directory change was not made (nothing half-saved)."""
    return page("outcome", site, 503, title="暂时无法保存", ok=False, manage_url="", sent=[],
                lines=["系统暂时繁忙，本次操作没有生效。请稍后再试。"], links=[("/subscribe", "返回订阅页")])
