"""Writing the portal's pages from its store: articles, column lists, and the site-wide pages.

Column lists are anchored (adapters.common.views.ListPage): a change at rank r of a column
rewrites the front page and only the archive pages from r's page up, so a new article rewrites
one or two list pages whatever the size of the column. Site-wide pages (home, feed, sitemap
parts, JSON index parts) are named by a dirty key and written by the coalescing refresher.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from adapters.common.views import (
    HomeSection,
    ListPage,
    PortalEntry,
    SiteView,
    archive_count,
    archive_of,
    front_size,
    list_page_path,
)
from adapters.portal.files import remove, write_atomic
from adapters.portal.render import (
    FEED_SIZE,
    HOME_ITEMS,
    feed_updated,
    render_article,
    render_feed,
    render_home,
    render_list_page,
    render_not_found,
    render_site_map,
    render_sitemap,
    render_sitemap_index,
    rfc3339,
)
from adapters.portal.store import PortalStore
from schemas.publication import Publication

PART_SIZE = 5_000  # articles per sitemap and JSON index part (sitemaps.org allows 50,000 URLs per file)
INDEX_FORMAT = 2
SITE_WIDE = ("home", "feed", "sitemap", "index")


def part_of(seq: int) -> int:
    return (seq - 1) // PART_SIZE + 1


def part_keys(seq: int) -> list[str]:
    """Dirty keys of the sitemap and JSON index parts listing the entry first published as number `seq`."""
    return [f"sitemap:{part_of(seq)}", f"index:{part_of(seq)}"]


class SiteWriter:
    def __init__(self, root: Path, site: SiteView, page_size: int) -> None:
        self.root = root
        self.site = site
        self.page_size = page_size

    def write(self, path: str, text: str, *, durable: bool = True) -> bool:
        return write_atomic(self.root / path, text.encode(), durable=durable)

    # -- articles and lists (in the delivery) ----------------------------------------------------

    def article(self, store: PortalStore, entry: PortalEntry, pub: Publication, *, durable: bool = True) -> None:
        """`durable=False` for bulk loads, which sync the whole tree once at the end."""
        view = store.neighbourhood([entry]).article_view(pub, self.site)
        view = dataclasses.replace(view, revisions=tuple(store.revisions(pub.id)))
        self.write(entry.path, render_article(view, self.site), durable=durable)

    def column(self, store: PortalStore, slug: str, *, old_total: int, shifts: Iterable[int] = (),
               in_place: Iterable[int] = ()) -> None:
        """Rewrite what changed in column `slug`: the front page, archive pages from the lowest shifted rank up
        (an insertion or removal moves every newer item), pages of in-place changes, new archive pages, and the
        newest archive page when the number of archive pages changed (its link to newer items changes)."""
        size = self.page_size
        total = store.total(slug)
        old_archives, archives = archive_count(old_total, size), archive_count(total, size)
        numbers: set[int] = set()
        for rank in shifts:
            numbers.update(range(max(1, rank // size + 1), archives + 1))
        numbers.update(n for n in (archive_of(rank, size, archives) for rank in in_place) if n)
        numbers.update(range(old_archives + 1, archives + 1))  # pages that now exist
        if archives != old_archives and min(archives, old_archives) >= 1:
            numbers.add(min(archives, old_archives))
        column = self.site.column(slug)
        front = ListPage(column, tuple(store.newest(slug, front_size(total, size))), 0, archives, total, self.site.base_url)
        self.write(list_page_path(slug, 0), render_list_page(front, self.site), durable=False)
        for number in sorted(numbers):
            items = store.ranked(slug, (number - 1) * size, size)
            page = ListPage(column, tuple(items), number, archives, total, self.site.base_url)
            self.write(list_page_path(slug, number), render_list_page(page, self.site), durable=False)
        for number in range(archives + 1, old_archives + 1):  # a column that shrank serves no stale page
            remove(self.root / list_page_path(slug, number))

    def missing_fronts(self) -> list[str]:
        return [c.slug for c in self.site.columns if not (self.root / list_page_path(c.slug, 0)).exists()]

    def all_columns(self, store: PortalStore) -> None:
        """Every list page of every column (after a bulk import)."""
        totals = store.totals()
        for column in self.site.columns:
            self.column(store, column.slug, old_total=_pages_on_disk(self.root, column.slug) * self.page_size,
                        shifts=[0] if totals.get(column.slug) else [])

    # -- site-wide pages (the refresher) ---------------------------------------------------------

    def site_wide(self, store: PortalStore, dirty: set[str]) -> None:
        if "home" in dirty:
            self._home(store)
        if "feed" in dirty:
            self._feed(store)
        parts = _part_counts(store)
        for key in sorted(dirty):
            kind, _, number = key.partition(":")
            if number and kind == "sitemap":
                self._sitemap_part(store, int(number), parts)
            elif number and kind == "index":
                self._index_part(store, int(number), parts)
        if "sitemap" in dirty:
            self._sitemap_index(store, parts)
        if "index" in dirty:
            self._index(store, parts)

    def _home(self, store: PortalStore) -> None:
        totals = store.totals()
        sections = [HomeSection(c, tuple(store.newest(c.slug, HOME_ITEMS)), totals[c.slug])
                    for c in self.site.columns if totals.get(c.slug)]
        self.write("index.html", render_home(sections, self.site), durable=False)
        listed = [(c, totals[c.slug]) for c in self.site.columns if totals.get(c.slug)]
        self.write("sitemap.html", render_site_map(listed, self.site), durable=False)
        self.write("404.html", render_not_found(self.site), durable=False)

    def _feed(self, store: PortalStore) -> None:
        latest = store.newest(None, FEED_SIZE)
        self.write("feed.xml", render_feed(latest, self.site, updated=self._updated(store)), durable=False)

    def _updated(self, store: PortalStore) -> dt.datetime:
        moments = [m for m in (store.last_modified(), store.last_withdrawn_at()) if m is not None]
        return max(moments) if moments else feed_updated([])

    def _sitemap_part(self, store: PortalStore, number: int, parts: dict[int, int]) -> None:
        path = f"sitemap-{number}.xml"
        if parts.get(number):
            self.write(path, render_sitemap(store.in_parts(number - 1, PART_SIZE), self.site, with_pages=False),
                       durable=False)
        else:
            remove(self.root / path)

    def _sitemap_index(self, store: PortalStore, parts: dict[int, int]) -> None:
        self.write("sitemap-0.xml", render_sitemap([], self.site), durable=False)
        listed = [(self.site.url("sitemap-0.xml"), None)]
        listed += [(self.site.url(f"sitemap-{n}.xml"), None) for n in sorted(parts)]
        self.write("sitemap.xml", render_sitemap_index(listed, self.site), durable=False)

    def _index_part(self, store: PortalStore, number: int, parts: dict[int, int]) -> None:
        path = f"index-{number}.json"
        if not parts.get(number):
            remove(self.root / path)
            return
        entries = store.in_parts(number - 1, PART_SIZE)
        interpreted_by = store.interpreted_by(entries)
        doc = {"format": INDEX_FORMAT, "part": number,
               "entries": [{**e.model_dump(mode="json", exclude={"interpreted"}), "interpreted_by": interpreted_by[e.id]}
                           for e in entries]}
        self.write(path, _json(doc), durable=False)

    def _index(self, store: PortalStore, parts: dict[int, int]) -> None:
        """index.json: the site, its parts (each lists up to PART_SIZE live entries) and the withdrawn list."""
        site = self.site
        doc = {
            "format": INDEX_FORMAT,
            "site": {"name": site.name, "url": site.home_url, "feed": site.feed_url, "sitemap": site.sitemap_url},
            "updated": rfc3339(self._updated(store)),
            "total": sum(parts.values()),
            "parts": [{"url": site.url(f"index-{n}.json"), "entries": parts[n]} for n in sorted(parts)],
            "withdrawn": [t.model_dump(mode="json") for t in store.withdrawn_all()],
        }
        self.write("index.json", _json(doc), durable=False)


def _part_counts(store: PortalStore) -> dict[int, int]:
    rows = store.db.execute("SELECT (seq - 1) / ? + 1, count(*) FROM entries GROUP BY 1", (PART_SIZE,))
    return {int(part): int(count) for part, count in rows}


def _pages_on_disk(root: Path, slug: str) -> int:
    return sum(1 for _ in (root / slug).glob("index_*.html")) + 1 if (root / slug).is_dir() else 0


def _json(doc: object) -> str:
    # No indent: with one, json falls back to its pure-Python encoder (10x slower on a large site).
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
