"""Portal renderer: pure functions from view models to HTML, Atom and sitemap text.

Templates live in adapters/portal/templates/. Autoescaping is on for
every template (HTML and XML alike); the one place that inserts markup as is is
the article body, which processors.normalize sanitized with nh3 upstream.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from adapters.common.views import (
    COLUMN_TYPES,
    CST,
    ArticleView,
    Column,
    HomeSection,
    ListPage,
    PortalEntry,
    SiteView,
    Tombstone,
    aware,
    describe,
    list_page_path,
    paginate,
    publish_day,
)

FEED_SIZE = 50
HOME_ITEMS = 8
_EMPTY_FEED_UPDATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # a feed with nothing in it yet, deterministic
# Characters XML 1.0 forbids (and HTML calls parse errors): dropped from every value a template prints.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(_CONTROL.sub("", str(value)))
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    return value


def rfc3339(value: dt.date | dt.datetime) -> str:
    """Atom / sitemap timestamp; a date is midnight Beijing time, a naive datetime is UTC."""
    moment = aware(value) if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time(), CST)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def cn_date(value: dt.date | dt.datetime) -> str:
    """Date as Chinese government pages print it (YYYY-MM-DD, Beijing time)."""
    return (aware(value).astimezone(CST).date() if isinstance(value, dt.datetime) else value).isoformat()


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


@functools.cache
def environment() -> Environment:
    """The portal's Jinja2 environment (cached; safe to share between threads)."""
    env = Environment(
        loader=PackageLoader("adapters.portal", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "atom"),
            disabled_extensions=("css", "js"),  # static assets inlined into <style>/<script>, never data
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(rfc3339=rfc3339, cn_date=cn_date, filesize=filesize)
    return env


def _render(name: str, site: SiteView, **context: Any) -> str:
    return environment().get_template(name).render(site=site, **context)


def site_meta(site: SiteView, column_name: str, column_type: str) -> dict[str, str]:
    return {"SiteName": site.name, "SiteDomain": site.domain, "SiteIDCode": site.id_code,
            "ColumnName": column_name, "ColumnType": column_type}


def article_meta(view: ArticleView, site: SiteView) -> dict[str, str]:
    """The government <meta> tags of an article page, in the order sites print them."""
    pub = view.publication
    return {
        **site_meta(site, view.column.name, COLUMN_TYPES[pub.kind]),
        "ArticleTitle": pub.title,
        "PubDate": publish_day(pub).isoformat(),
        "ContentSource": pub.publisher,
        "Keywords": ",".join(pub.keywords),
        "Author": pub.publisher,
        "Description": describe(pub),
        "Url": view.url,
    }


def render_article(view: ArticleView, site: SiteView) -> str:
    """The article page: notice of lost validity, metadata table, title, body, attachments, relations."""
    return _render("article.html", site, view=view, pub=view.publication, meta=article_meta(view, site),
                   doc_title=view.publication.title, canonical=view.url, current=view.column.slug, noindex=False)


def render_list_page(page: ListPage, site: SiteView) -> str:
    column = page.column
    doc_title = column.name if page.is_front else f"{column.name}（第{page.number}页）"
    return _render("list.html", site, page=page, meta=site_meta(site, column.name, column.name),
                   doc_title=doc_title, canonical=page.url, current=column.slug, noindex=False)


def render_column(column: Column, entries: Sequence[PortalEntry], page_size: int, site: SiteView) -> dict[str, str]:
    """Every list page of a column (entries newest first): {path relative to the portal root: HTML}, front page first."""
    return {list_page_path(column.slug, page.number): render_list_page(page, site)
            for page in paginate(column, entries, page_size, site)}


def home_sections(entries: Sequence[PortalEntry], site: SiteView, per_column: int = HOME_ITEMS) -> list[HomeSection]:
    """The latest items of every column that has any (entries newest first): no empty column is published."""
    sections = []
    for column in site.columns:
        listed = [e for e in entries if site.column(e.column) == column]
        if listed:
            sections.append(HomeSection(column, tuple(listed[:per_column]), len(listed)))
    return sections


def render_home(sections: Sequence[HomeSection], site: SiteView) -> str:
    return _render("home.html", site, sections=sections, meta=site_meta(site, "首页", "首页"),
                   doc_title="首页", canonical=site.home_url, current="home", noindex=False)


def render_search(results: Any, site: SiteView, *, prev_url: str | None = None, next_url: str | None = None) -> str:
    """The search page: the form, and the hits of `results` (adapters.portal.search.Results) if any."""
    title = f"搜索：{results.query}" if results else "站内搜索"
    return _render("search.html", site, results=results, prev_url=prev_url, next_url=next_url,
                   meta=site_meta(site, "站内搜索", "站内搜索"), doc_title=title, canonical=site.search_url,
                   current="", noindex=True)


def render_not_found(site: SiteView) -> str:
    """404 in the site's design: home, site map, search."""
    return _render("404.html", site, meta=site_meta(site, "页面不存在", "页面不存在"), doc_title="页面不存在",
                   canonical=site.home_url, current="", noindex=True)


def render_policy_library(listing: Any, site: SiteView, *, labels: dict[str, str],
                          link: Any, page_link: Any) -> str:
    """政策文件库: facet links with counts, the 文号 form, the matching policies with their interpretations."""
    base = site.url("zcwjk/")
    return _render("zcwjk.html", site, listing=listing, labels=labels, link=link, page_link=page_link, base=base,
                   meta=site_meta(site, "政策文件库", "政策文件"), doc_title="政策文件库", canonical=base,
                   current="zcwjk", noindex=bool(listing.filters.active()))


def render_site_map(columns: Sequence[tuple[Column, int]], site: SiteView) -> str:
    """网站地图 for people: every column that has items (with its count), search, 政策文件库, feed."""
    return _render("sitemap.html", site, columns=columns, meta=site_meta(site, "网站地图", "网站地图"),
                   doc_title="网站地图", canonical=site.site_map_url, current="", noindex=False)


def render_withdrawn(tomb: Tombstone, site: SiteView) -> str:
    """The withdrawal notice that replaces a retracted article at its URL."""
    column = site.column(tomb.column)
    return _render("withdrawn.html", site, tomb=tomb, column=column, meta=site_meta(site, column.name, "撤回信息"),
                   doc_title=f"该信息已撤回：{tomb.title}", canonical=tomb.url, current=column.slug, noindex=True)


def feed_updated(entries: Sequence[PortalEntry], withdrawn: Sequence[Tombstone] = ()) -> dt.datetime:
    """When the feed last changed: the newest revision or withdrawal (no wall clock, so redelivery is byte-stable)."""
    moments = [e.last_modified for e in entries] + [aware(t.withdrawn_at) for t in withdrawn]
    return max(moments, default=_EMPTY_FEED_UPDATED)


def render_feed(entries: Sequence[PortalEntry], site: SiteView, *, updated: dt.datetime | None = None) -> str:
    """Atom 1.0 feed of the latest FEED_SIZE entries (`entries` newest first)."""
    latest = list(entries[:FEED_SIZE])
    return _render("feed.xml", site, entries=latest, updated=updated or feed_updated(latest))


def render_sitemap(entries: Sequence[PortalEntry], site: SiteView, *, with_pages: bool = True) -> str:
    """sitemaps.org urlset: (with_pages) home and the first page of every column, then `entries` (absolute URLs)."""
    return _render("sitemap.xml", site, entries=entries, with_pages=with_pages)


def render_sitemap_index(parts: Sequence[tuple[str, dt.datetime | None]], site: SiteView) -> str:
    """sitemaps.org sitemapindex: (URL of a urlset file, its newest lastmod)."""
    return _render("sitemap_index.xml", site, parts=parts)
