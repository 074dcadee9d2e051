"""View models of the portal: what its templates show, built from publications and the site index.

Plain data, no I/O. `PortalEntry` and `Tombstone` are also the items of the
portal's public `index.json` (see adapters.portal), so a page, a list, the feed
and the index always agree on a title, a date or a URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from schemas.publication import Kind, Publication, Relation, Validity

CST = dt.timezone(dt.timedelta(hours=8), "CST")  # dates on Chinese government pages are Beijing time
OTHER_COLUMN = ("other", "其他")  # where a 组配分类 the site does not know is listed
DESCRIPTION_CHARS = 120

# The government <meta name="ColumnType"> of each kind of publication.
COLUMN_TYPES: dict[Kind, str] = {
    Kind.policy: "政策文件",
    Kind.interpretation: "政策解读",
    Kind.notice: "通知公告",
    Kind.news: "工作动态",
}


def list_page_path(slug: str, number: int) -> str:
    """Path of page `number` (1-based) of a column's list, relative to the portal root."""
    return f"{slug}/index.html" if number == 1 else f"{slug}/index_{number}.html"


def article_path(slug: str, publication_id: str) -> str:
    return f"{slug}/{publication_id}.html"


def publish_day(pub: Publication) -> dt.date:
    """发布日期: as sent or allocated by normalize; else the day it was submitted (Beijing time)."""
    return pub.publish_date or pub.submitted_at.astimezone(CST).date()


def describe(pub: Publication) -> str:
    """The summary, or the start of the body text: feed summary and <meta name="Description">."""
    if pub.summary:
        return pub.summary
    text = " ".join(pub.body_text.split())
    return text if len(text) <= DESCRIPTION_CHARS else text[:DESCRIPTION_CHARS] + "…"


@dataclass(frozen=True)
class Column:
    slug: str
    name: str
    url: str  # absolute URL of the first list page


@dataclass(frozen=True)
class SiteView:
    """The site-wide facts every page shows (header, meta tags, footer)."""

    name: str
    base_url: str  # public URL of the portal root, without trailing slash
    domain: str = ""
    id_code: str = ""
    sponsor: str = ""
    phone: str = ""
    icp: str = ""
    sandbox: bool = False
    columns: tuple[Column, ...] = ()

    @classmethod
    def build(cls, *, name: str, base_url: str, categories: Mapping[str, str], **facts: str | bool) -> SiteView:
        """Columns from the 组配分类 vocabulary (name -> slug; the first name of a slug names it), plus 其他."""
        base = base_url.rstrip("/")
        names: dict[str, str] = {}
        for category, slug in categories.items():
            names.setdefault(slug, category)
        names.setdefault(*OTHER_COLUMN)
        columns = tuple(Column(slug, title, f"{base}/{list_page_path(slug, 1)}") for slug, title in names.items())
        return cls(name=name, base_url=base, columns=columns, **facts)  # type: ignore[arg-type]

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    @property
    def home_url(self) -> str:
        return self.url("index.html")

    @property
    def feed_url(self) -> str:
        return self.url("feed.xml")

    @property
    def sitemap_url(self) -> str:
        return self.url("sitemap.xml")

    def column(self, slug: str) -> Column:
        """The column listing `slug`; an unknown slug is listed under 其他."""
        by_slug = {column.slug: column for column in self.columns}
        if slug in by_slug:
            return by_slug[slug]
        other, name = OTHER_COLUMN
        return by_slug.get(other) or Column(other, name, self.url(list_page_path(other, 1)))


class EntryRef(BaseModel):
    """A related reference as the index keeps it (`id` or `index_no`)."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    index_no: str | None = None
    relation: Relation = Relation.related
    title: str | None = None


class PortalEntry(BaseModel):
    """One live article of the portal: an item of index.json, of a column list, the feed and the sitemap."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    version: int
    title: str
    url: str
    path: str
    index_no: str
    category: str
    column: str  # slug of the column that lists it
    theme: str
    kind: Kind
    publisher: str
    doc_no: str = ""
    validity: Validity
    written_date: dt.date
    publish_date: dt.date
    updated: dt.datetime  # when this version was submitted
    description: str = ""
    keywords: tuple[str, ...] = ()
    related: tuple[EntryRef, ...] = ()

    @classmethod
    def of(cls, pub: Publication, *, column: str, path: str, url: str) -> PortalEntry:
        return cls(
            id=pub.id, version=pub.version, title=pub.title, url=url, path=path, index_no=pub.index_no_text,
            category=pub.category, column=column, theme=pub.theme, kind=pub.kind, publisher=pub.publisher,
            doc_no=pub.doc_no, validity=pub.validity, written_date=pub.written_date,
            publish_date=publish_day(pub),
            updated=pub.submitted_at, description=describe(pub), keywords=tuple(pub.keywords),
            related=tuple(EntryRef(id=r.id, index_no=r.index_no, relation=r.relation, title=r.title) for r in pub.related),
        )

    @property
    def sort_key(self) -> tuple[dt.date, dt.datetime, str]:
        """Newest first = sorted by this key, reversed: publish date, then submission time."""
        return (self.publish_date, aware(self.updated), self.id)

    @property
    def last_modified(self) -> dt.datetime:
        """Atom <updated> / sitemap <lastmod>: never before the day it was published."""
        return max(aware(self.updated), dt.datetime.combine(self.publish_date, dt.time(), CST))


class Tombstone(BaseModel):
    """A withdrawn article: what its withdrawal notice shows; keeps a late publish of it withdrawn."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    version: int
    title: str
    index_no: str
    path: str
    url: str
    column: str
    reason: str = ""
    withdrawn_at: dt.datetime


def aware(value: dt.datetime) -> dt.datetime:
    """A naive timestamp is UTC (how the pipeline records times)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RefLink:
    """One line of the 关联文件 / 关联解读 section; `url` None = shown as plain text."""

    title: str
    index_no: str = ""
    url: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RelationGroup:
    key: str  # a Relation value, or its inverse as seen from this page (amended_by, repealed_by)
    label: str
    links: tuple[RefLink, ...]


@dataclass(frozen=True)
class ArticleView:
    publication: Publication
    url: str
    column: Column
    relations: tuple[RelationGroup, ...] = ()


@dataclass(frozen=True)
class ListPage:
    """Page `number` of a column list (newest first)."""

    column: Column
    items: tuple[PortalEntry, ...]
    number: int
    urls: tuple[str, ...]  # absolute URL of every page of this column, page 1 first
    total: int

    @property
    def count(self) -> int:
        return len(self.urls)

    @property
    def url(self) -> str:
        return self.urls[self.number - 1]

    @property
    def prev_url(self) -> str | None:
        return self.urls[self.number - 2] if self.number > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.urls[self.number] if self.number < self.count else None

    @property
    def window(self) -> list[int | None]:
        """Page numbers to link: first, last and two around the current one; None marks a gap."""
        shown = sorted({1, self.count, *range(max(1, self.number - 2), min(self.count, self.number + 2) + 1)})
        out: list[int | None] = []
        for number in shown:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out


@dataclass(frozen=True)
class HomeSection:
    column: Column
    items: tuple[PortalEntry, ...]
    total: int


def paginate(column: Column, entries: Sequence[PortalEntry], page_size: int, site: SiteView) -> tuple[ListPage, ...]:
    """Split a column's entries (already newest first) into pages; an empty column still has page 1."""
    chunks = [tuple(entries[i:i + page_size]) for i in range(0, len(entries), page_size)] or [()]
    urls = tuple(site.url(list_page_path(column.slug, n)) for n in range(1, len(chunks) + 1))
    return tuple(ListPage(column, chunk, n, urls, len(entries)) for n, chunk in enumerate(chunks, start=1))
