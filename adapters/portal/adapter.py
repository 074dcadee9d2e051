"""Portal channel: publishes the disclosure site as static files, the way government CMSs do.

Layout under `config.root` (URL = base_url + "/" + path):

    index.html                      home: latest items of every column
    <slug>/index.html, index_2.html column lists, newest first, page_size per page
    <slug>/<id>.html                article page; after retraction, the withdrawal notice
    feed.xml, sitemap.xml           Atom 1.0 feed (latest 50), sitemaps.org urlset
    index.json                      public JSON index: live entries and the withdrawn list
    _records/<id>.json              stored Publication of every live article (to re-render pages)
    .lock                           flock()ed around every delivery

Every delivery is one read-modify-write of the site under an exclusive file lock, so
deliveries from several threads or worker processes sharing the directory serialize.
Pages are rendered from the stored state only (no wall clock except the date of a
withdrawal, recorded once), so delivering a task again rewrites nothing.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from pydantic import ValidationError

from adapters.portal.config import PortalConfig
from adapters.portal.files import fsync_dir, remove, site_lock, write_atomic
from adapters.portal.site import CorruptIndex, SiteIndex
from processors.render.portal import (
    feed_updated,
    home_sections,
    render_article,
    render_column,
    render_feed,
    render_home,
    render_sitemap,
    render_withdrawn,
)
from processors.render.views import OTHER_COLUMN, PortalEntry, SiteView, Tombstone, article_path, list_page_path
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected, Retryable
from schemas.publication import Publication

log = logging.getLogger("govcast.adapters.portal")

INDEX_FILE = "index.json"
RECORDS_DIR = "_records"
LOCK_FILE = ".lock"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # becomes a file name: no '/', no leading dot
_LIST_PAGE = re.compile(r"^index_(\d+)\.html$")
_LIST_PAGE_NAME = re.compile(r"^index(?:_\d+)?$")  # an article named like a list page would overwrite it


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PortalAdapter:
    channel: ClassVar[str] = "portal"

    def __init__(self, config: PortalConfig, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.config = config
        self.root = config.root
        self.site = SiteView.build(
            name=config.site_name, base_url=config.base_url, categories=config.categories, domain=config.site_domain,
            id_code=config.site_id_code, sponsor=config.site_sponsor, phone=config.site_phone, icp=config.icp,
            sandbox=config.sandbox,
        )
        self._clock = clock

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        rejected = _reject(task)
        if rejected is not None:
            return rejected
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with site_lock(self.root / LOCK_FILE):
                if task.action is Action.retract:
                    return self._retract(task.publication)
                return self._publish(task.publication)
        except OSError as exc:  # disk full, permissions, read-only mount: an operator can fix it, so retry
            reason = f"portal files not writable: {_describe(exc)}"
            log.warning("%s: %s", task.delivery_id, reason)
            return Retryable(reason=reason, retry_after=60)
        except CorruptIndex as exc:
            log.error("%s: %s", task.delivery_id, exc)
            return Retryable(reason=f"{exc} (restore {self.root / INDEX_FILE} from backup)", retry_after=300)

    def close(self) -> None:
        """Nothing is held between deliveries: the lock is taken per delivery."""

    # -- actions -------------------------------------------------------------------------------

    def _publish(self, pub: Publication) -> DeliveryResult:
        index = self._load()
        tomb = index.withdrawn.get(pub.id)
        if tomb is not None:
            return Delivered(url=tomb.url, detail=f"withdrawn earlier; retraction wins, version {pub.version} not shown")
        current = index.entries.get(pub.id)
        if current is not None and current.version > pub.version:
            return Delivered(url=current.url, detail=f"version {pub.version} is older than the published "
                                                     f"version {current.version}; kept the newer one")
        entry = self._entry(pub, current)
        touched = index.neighbours(current) if current else set()
        index.put(entry)
        touched |= index.neighbours(entry)
        write_atomic(self._record_path(pub.id), pub.model_dump_json(indent=1).encode())
        self._write(entry.path, render_article(index.article_view(pub, self.site), self.site))
        self._refresh(index, touched, columns={entry.column} | ({current.column} if current else set()))
        return Delivered(url=entry.url, detail=f"version {pub.version} published")

    def _retract(self, pub: Publication) -> DeliveryResult:
        index = self._load()
        current = index.entries.get(pub.id)
        touched = index.neighbours(current) if current else set()
        tomb = index.withdrawn.get(pub.id)
        if tomb is None:  # the first retraction fixes the notice (and its date) for good
            shown = current or self._entry(pub, None)
            tomb = Tombstone(id=pub.id, version=max(pub.version, shown.version), title=shown.title,
                             index_no=shown.index_no, path=shown.path, url=shown.url, column=shown.column,
                             reason=pub.retract_reason or "", withdrawn_at=self._clock())
        index.withdraw(tomb)
        self._write(tomb.path, render_withdrawn(tomb, self.site))
        remove(self._record_path(pub.id))
        self._refresh(index, touched, columns={current.column} if current else set())
        return Delivered(url=tomb.url, detail="withdrawn: the page shows the withdrawal notice")

    # -- helpers -------------------------------------------------------------------------------

    def _entry(self, pub: Publication, current: PortalEntry | None) -> PortalEntry:
        """The index entry of `pub`; an article keeps its first URL even if a revision moves it to another column."""
        slug = self.config.categories.get(pub.category, OTHER_COLUMN[0])
        path = current.path if current else article_path(slug, pub.id)
        return PortalEntry.of(pub, column=slug, path=path, url=self.site.url(path))

    def _refresh(self, index: SiteIndex, articles: Iterable[str], columns: set[str]) -> None:
        """Re-render pages that show links to a changed article, its column lists, home, feed, sitemap; then commit the index."""
        for pub_id in sorted(articles):
            pub = self._read_record(pub_id) if pub_id in index.entries else None
            if pub is not None:
                self._write(index.entries[pub_id].path, render_article(index.article_view(pub, self.site), self.site))
        missing = {c.slug for c in self.site.columns if not (self.root / list_page_path(c.slug, 1)).exists()}
        for slug in sorted(columns | missing):
            column = self.site.column(slug)
            pages = render_column(column, index.in_column(slug), self.config.page_size, self.site)
            for path, html in pages.items():
                self._write(path, html, durable=False)
            self._drop_pages_after(slug, len(pages))
        ordered = index.ordered()
        self._write_derived("index.html", render_home(home_sections(ordered, self.site), self.site))
        self._write_derived("feed.xml", render_feed(ordered, self.site, updated=feed_updated(ordered, list(index.withdrawn.values()))))
        self._write_derived("sitemap.xml", render_sitemap(ordered, self.site))
        write_atomic(self.root / INDEX_FILE, index.dumps(self.site))  # the commit point: written last
        fsync_dir(self.root)

    def _drop_pages_after(self, slug: str, count: int) -> None:
        """A column that shrank (retraction) must not keep serving its old last pages."""
        folder = self.root / slug
        for page in folder.glob("index_*.html"):
            match = _LIST_PAGE.match(page.name)
            if match and int(match[1]) > count:
                remove(page)

    def _load(self) -> SiteIndex:
        try:
            return SiteIndex.loads((self.root / INDEX_FILE).read_bytes())
        except FileNotFoundError:
            return SiteIndex()

    def _record_path(self, pub_id: str) -> Path:
        return self.root / RECORDS_DIR / f"{pub_id}.json"

    def _read_record(self, pub_id: str) -> Publication | None:
        try:
            return Publication.model_validate_json(self._record_path(pub_id).read_bytes())
        except FileNotFoundError:
            log.warning("no stored record of %s; its page keeps its old links until it is delivered again", pub_id)
        except ValidationError as exc:
            log.warning("stored record of %s is unreadable (%s); its page keeps its old links", pub_id, exc)
        return None

    def _write(self, path: str, text: str, *, durable: bool = True) -> None:
        write_atomic(self.root / path, text.encode(), durable=durable)

    def _write_derived(self, path: str, text: str) -> None:
        """Lists, home, feed, sitemap: regenerated from the index on every refresh, so no fsync of their own."""
        self._write(path, text, durable=False)


def _reject(task: DeliveryTask) -> Rejected | None:
    if task.channel != PortalAdapter.channel:
        return Rejected(reason=f"task for channel {task.channel!r} sent to the portal", code="wrong_channel")
    if task.recipient is not None:
        return Rejected(reason="the portal publishes to everyone; it has no recipients", code="recipient_not_supported")
    if not _SAFE_ID.match(task.publication.id) or _LIST_PAGE_NAME.match(task.publication.id):
        return Rejected(reason=f"publication id {task.publication.id!r} cannot name a page "
                               "(letters, digits, '.', '_', '-'; at most 128)", code="bad_id")
    return None


def _describe(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0, "OSError")
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{code}: {exc.strerror or exc}{where}"
