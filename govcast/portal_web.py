"""The portal's dynamic part, beside its static tree: site search, jump-to-page, and the static files.

Served by `govcast run` and `govcast api` at /portal/search and /portal/go. With several web servers
holding copies of the static tree (docs/operations.md, "Portal on several web servers"), these two
paths are proxied to a govcast process that can read the portal index.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from adapters.common.views import list_page_path
from adapters.portal import PortalConfig
from adapters.portal.policies import FACET_LABELS, Filters, Listing, listing
from adapters.portal.render import render_policy_library, render_search
from adapters.portal.search import Results, search
from adapters.portal.store import PortalStore

PER_PAGE = 10
T = TypeVar("T")
MAX_PAGE = 50


class PublicFiles(StaticFiles):
    """The published site only: private files (`.lock`, temp files, any `_name`) are not served.

    A missing page answers with the site's own 404.html (StaticFiles' html mode); the Atom feed is
    served as application/atom+xml, which Python's table of types does not know.
    """

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        if any(part.startswith(("_", ".")) for part in Path(path).parts):
            return ".not-public"  # never exists, so the 404 page answers
        return path

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith("feed.xml"):
            response.headers["content-type"] = "application/atom+xml; charset=utf-8"
        return response


def portal_router(config: PortalConfig) -> APIRouter:
    site = config.site_view()
    router = APIRouter(tags=["portal"])

    @router.get("/portal/search", summary="Site search (HTML for people; format=json for programs)", response_model=None)
    def site_search(q: Annotated[str, Query(max_length=200)] = "",
                    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
                    format: Annotated[str, Query(pattern="^(html|json)$")] = "html") -> Response:
        results = _search(config, q, page) if q.strip() else None
        if format == "json":
            return JSONResponse(_as_json(results, q))
        def link(number: int) -> str:
            return f"{site.search_url}?{urlencode({'q': q, 'page': number})}"
        prev_url = link(page - 1) if results and page > 1 else None
        next_url = link(page + 1) if results and results.listed > page * PER_PAGE and page < MAX_PAGE else None
        return HTMLResponse(render_search(results, site, prev_url=prev_url, next_url=next_url))

    @router.get("/portal/go", summary="Jump to page N of a column list (the static pages' jump form)")
    def jump(column: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")],
             page: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> RedirectResponse:
        target = config.root / list_page_path(column, page)
        if page == 0 or not target.exists():  # past the oldest page or no such column: its front page
            target = config.root / list_page_path(site.column(column).slug, 0)
        return RedirectResponse(site.url(str(target.relative_to(config.root))), status_code=303)

    @router.get("/portal/zcwjk", include_in_schema=False)
    def library_slash() -> RedirectResponse:
        return RedirectResponse(site.url("zcwjk/"), status_code=301)

    @router.get("/portal/zcwjk/", summary="政策文件库: policies filtered by 发文机关, year, 文号, 主题分类, 有效性, 规范性文件")
    def library(issuer: Annotated[str, Query(max_length=100)] = "",
                year: Annotated[int | None, Query(ge=1949, le=2999)] = None,
                doc_no: Annotated[str, Query(max_length=60)] = "",
                theme: Annotated[str, Query(max_length=60)] = "",
                validity: Annotated[str, Query(pattern="^(|有效|已修改|失效|废止)$")] = "",
                normative: Annotated[str, Query(pattern="^(|0|1)$")] = "",
                page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> HTMLResponse:
        filters = Filters(issuer=issuer.strip(), year=year, doc_no=doc_no.strip(), theme=theme.strip(), validity=validity,
                          normative=None if normative == "" else normative == "1")
        found = _with_store(config, lambda store: listing(store, filters, page))
        if found is None:
            found = Listing(filters, 0, (), {})
        active = filters.active()

        def link(name: str, value: str | None) -> str:
            chosen = {k: v for k, v in active.items() if k != name} | ({name: value} if value else {})
            return site.url("zcwjk/") + (f"?{urlencode(chosen)}" if chosen else "")

        def page_link(number: int) -> str:
            return site.url("zcwjk/") + "?" + urlencode(active | {"page": str(number)})

        return HTMLResponse(render_policy_library(found, site, labels=FACET_LABELS, link=link, page_link=page_link))

    return router


def _with_store(config: PortalConfig, use: Callable[[PortalStore], T]) -> T | None:
    if not config.store_path.exists():
        return None
    store = PortalStore(config.store_path)
    try:
        return use(store)
    finally:
        store.close()


def redirect_router(config: PortalConfig) -> APIRouter:
    """Old URLs of an imported archive (`original_url`) answer 301 with the new page; anything else 404."""
    router = APIRouter(include_in_schema=False)

    # Every method, so an unknown path still answers 404 (a GET-only route would turn other methods into 405).
    @router.api_route("/{old_path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    def moved(old_path: str, request: Request) -> RedirectResponse:
        target = None
        if request.method in ("GET", "HEAD") and config.store_path.exists():
            store = PortalStore(config.store_path)
            try:
                target = store.redirect("/" + old_path)
            finally:
                store.close()
        if target is None:
            raise HTTPException(status_code=404)
        return RedirectResponse(target, status_code=301)

    return router


def _search(config: PortalConfig, query: str, page: int) -> Results:
    found = _with_store(config, lambda store: search(store, query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE))
    return found or Results(query, (), 0)


def _as_json(results: Results | None, query: str) -> dict[str, Any]:
    if results is None:
        return {"query": query, "total": 0, "capped": False, "hits": []}
    return {
        "query": results.query, "total": results.total, "capped": results.capped, "offset": results.offset,
        "notes": list(results.notes),
        "hits": [{"id": h.entry.id, "title": h.entry.title, "url": h.entry.url, "index_no": h.entry.index_no,
                  "doc_no": h.entry.doc_no, "publish_date": h.entry.publish_date.isoformat(),
                  "title_html": str(h.title), "snippet_html": str(h.snippet)} for h in results.hits],
    }
