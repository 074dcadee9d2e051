"""/subscribe where policy push is not a configured channel: every page says so plainly (404), and a form posted
from an old tab or a bookmark is refused with the same page, so no business is left believing it signed up.

Erasure and unsubscribing stay possible where they matter: the one-click unsubscribe links (/u/...) in earlier
messages keep working, and the page names the publisher as the contact for deleting a record."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from producers.subscribe import pages
from producers.subscribe.render import page
from producers.subscribe.state import site_of

router = APIRouter(prefix="/subscribe", include_in_schema=False)
router.add_api_route("/assets/{name}", pages.asset, methods=["GET"])  # the page below wears the site's stylesheet

NOT_OFFERED = ["本网站目前未开通惠企政策推送，不接受订阅申请，也不会向企业推送政策。",
               "您可以在网站上浏览和检索政策文件。",
               "如曾订阅并需要删除已登记的信息，请使用以前收到的推送中的“退订”链接，或联系网站主办单位。"]


@router.api_route("", methods=["GET", "POST"], response_class=HTMLResponse)
@router.api_route("/{rest:path}", methods=["GET", "POST"], response_class=HTMLResponse)
def not_offered(request: Request) -> HTMLResponse:
    return page("outcome", site_of(request), 404, title="未开通惠企政策推送", ok=False, lines=NOT_OFFERED,
                manage_url="", sent=[], links=[("/portal/", "返回网站首页")], offered=False)
