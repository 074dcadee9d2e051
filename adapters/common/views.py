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
    """Path of a column list page relative to the portal root: 0 = the front page, else anchored archive page."""
    return f"{slug}/index.html" if number == 0 else f"{slug}/index_{number}.html"


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
    police_beian: str = ""  # 公安机关备案号
    conac_url: str = ""  # 党政机关网站标识 (conac.cn)
    error_report_url: str = ""  # 我为政府网站找错
    sandbox: bool = False
    subscribe_url: str = ""  # the subscription center's sign-up page (/subscribe), linked from every page; empty: none
    columns: tuple[Column, ...] = ()

    @classmethod
    def build(cls, *, name: str, base_url: str, categories: Mapping[str, str], **facts: str | bool) -> SiteView:
        """Columns from the 组配分类 vocabulary (name -> slug; the first name of a slug names it), plus 其他."""
        base = base_url.rstrip("/")
        names: dict[str, str] = {}
        for category, slug in categories.items():
            names.setdefault(slug, category)
        names.setdefault(*OTHER_COLUMN)
        columns = tuple(Column(slug, title, f"{base}/{list_page_path(slug, 0)}") for slug, title in names.items())
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

    @property
    def site_map_url(self) -> str:
        """网站地图: the HTML site map people read (sitemap.xml is for crawlers)."""
        return self.url("sitemap.html")

    @property
    def search_url(self) -> str:
        return self.url("search")

    @property
    def error_report_link(self) -> str:
        if not self.error_report_url:
            return ""
        joiner = "&" if "?" in self.error_report_url else "?"
        return f"{self.error_report_url}{joiner}siteCode={self.id_code}" if self.id_code else self.error_report_url

    @property
    def jump_url(self) -> str:
        """The search service's redirect to a column's list page by number (static pages cannot)."""
        return self.url("go")

    def column(self, slug: str) -> Column:
        """The column listing `slug`; an unknown slug is listed under 其他."""
        by_slug = {column.slug: column for column in self.columns}
        if slug in by_slug:
            return by_slug[slug]
        other, name = OTHER_COLUMN
        return by_slug.get(other) or Column(other, name, self.url(list_page_path(other, 0)))


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
    interpreted: bool = False  # a live interpretation links to it: lists show [解读]
    issuers: tuple[str, ...] = ()  # 发文机关 (empty: the publisher)
    normative: bool = False
    normative_no: str = ""

    @classmethod
    def of(cls, pub: Publication, *, column: str, path: str, url: str) -> PortalEntry:
        return cls(
            id=pub.id, version=pub.version, title=pub.title, url=url, path=path, index_no=pub.index_no_text,
            category=pub.category, column=column, theme=pub.theme, kind=pub.kind, publisher=pub.publisher,
            doc_no=pub.doc_no, validity=pub.validity, written_date=pub.written_date,
            publish_date=publish_day(pub),
            updated=pub.submitted_at, description=describe(pub), keywords=tuple(pub.keywords),
            related=tuple(EntryRef(id=r.id, index_no=r.index_no, relation=r.relation, title=r.title) for r in pub.related),
            issuers=tuple(pub.issuers), normative=pub.normative, normative_no=pub.normative_no,
        )

    @property
    def issuing_organs(self) -> tuple[str, ...]:
        return self.issuers or (self.publisher,)

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


LAPSED_NOTES = frozenset({Validity.repealed.phrase, Validity.expired.phrase})  # not 已修改: an amended policy is in force


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
class Revision:
    """One published version of an article: the revision history shows these when there is more than one."""

    version: int
    at: dt.datetime
    note: str


@dataclass(frozen=True)
class ArticleView:
    publication: Publication
    url: str
    column: Column
    relations: tuple[RelationGroup, ...] = ()
    revisions: tuple[Revision, ...] = ()

    def _links(self, *keys: str) -> tuple[RefLink, ...]:
        return tuple(link for group in self.relations if group.key in keys for link in group.links)

    @property
    def lapsed_by(self) -> tuple[RefLink, ...]:
        """The files that repealed or replaced this one (linked from its validity notice)."""
        return self._links("repealed_by", "replaced_by")

    @property
    def amended_by(self) -> tuple[RefLink, ...]:
        """The files that amended this one (linked from its 已修改 notice)."""
        return self._links("amended_by")

    @property
    def lapsed_policies(self) -> tuple[RefLink, ...]:
        """For an interpretation: the interpreted policies no longer in force (its banner follows them)."""
        return tuple(link for link in self._links("interprets") if link.note in LAPSED_NOTES)


@dataclass(frozen=True)
class ListPage:
    """One page of a column list, items newest first.

    Pagination is anchored at the oldest item so that a new article never rewrites old pages:
    archive page `number` (1 = oldest) always holds the items ranked [(number-1)*size, number*size)
    counted from the oldest. The front page (`number` 0, index.html) holds the rest, the newest
    `size` to `2*size - 1` items. An archive page therefore only knows its neighbours, not the total.
    """

    column: Column
    items: tuple[PortalEntry, ...]
    number: int  # 0 = the front page (newest); else the anchored archive number, 1 = oldest
    newest_archive: int  # the highest archive number when rendered (0 = no archive pages)
    total: int  # items in the column (printed on the front page only: archive pages must not change)
    base_url: str

    @property
    def is_front(self) -> bool:
        return self.number == 0

    def page_url(self, number: int) -> str:
        return f"{self.base_url}/{list_page_path(self.column.slug, number)}"

    @property
    def url(self) -> str:
        return self.page_url(self.number)

    @property
    def newer_url(self) -> str | None:
        if self.is_front:
            return None
        return self.column.url if self.number >= self.newest_archive else self.page_url(self.number + 1)

    @property
    def older_url(self) -> str | None:
        if self.is_front:
            return self.page_url(self.newest_archive) if self.newest_archive else None
        return self.page_url(self.number - 1) if self.number > 1 else None

    @property
    def oldest_url(self) -> str | None:
        """最早一页 (archive page 1), unless this is it."""
        return self.page_url(1) if self.newest_archive and self.number != 1 else None

    @property
    def window(self) -> list[int]:
        """Archive pages the front page links by number: the newest three and the oldest."""
        if not self.is_front:
            return []
        return sorted({*range(self.newest_archive, max(0, self.newest_archive - 3), -1), *([1] if self.newest_archive else [])},
                      reverse=True)


def archive_count(total: int, page_size: int) -> int:
    """Archive pages of a column of `total` items: every full chunk of `page_size` but the newest one."""
    return max(0, total // page_size - 1)


def front_size(total: int, page_size: int) -> int:
    return total - archive_count(total, page_size) * page_size


def archive_of(rank: int, page_size: int, archives: int) -> int:
    """The page showing the item ranked `rank` from the oldest (0 = front page)."""
    number = rank // page_size + 1
    return number if number <= archives else 0


@dataclass(frozen=True)
class HomeSection:
    column: Column
    items: tuple[PortalEntry, ...]
    total: int


def paginate(column: Column, entries: Sequence[PortalEntry], page_size: int, site: SiteView) -> tuple[ListPage, ...]:
    """Every page of a column (entries newest first): the front page, then archive pages newest first."""
    total = len(entries)
    archives = archive_count(total, page_size)
    front = ListPage(column, tuple(entries[:front_size(total, page_size)]), 0, archives, total, site.base_url)
    pages = [front]
    for number in range(archives, 0, -1):
        stop = total - (number - 1) * page_size
        pages.append(ListPage(column, tuple(entries[stop - page_size:stop]), number, archives, total, site.base_url))
    return tuple(pages)
