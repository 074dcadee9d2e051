"""Portal channel: publishes the disclosure site as static files, the way government CMSs do.

Layout under `config.root` (URL = base_url + "/" + path):

    index.html                      home: latest items of every column that has any
    <slug>/index.html               column front page: the newest items
    <slug>/index_<n>.html           anchored archive pages (1 = oldest; never rewritten by a new article)
    <slug>/<id>.html                article page; after retraction, the withdrawal notice
    feed.xml                        Atom 1.0 feed (latest 50)
    sitemap.xml, sitemap-<n>.xml    sitemaps.org index and its parts (home and columns; then 5,000 articles each)
    index.json, index-<n>.json      public JSON index: its parts of live entries, and the withdrawn list
    .lock                           flock()ed around every delivery and every refresh

The portal's own index is the SQLite database `config.store_path` next to the tree (never served).
A delivery, under the site lock, updates the index, writes its article, the pages linking to it and
the list pages that change, and commits. Site-wide pages (home, feed, sitemap, JSON index) are marked
dirty in the same transaction and rewritten by a coalescing refresher, at most once per
`refresh_seconds` (0 = at once): a burst of deliveries rewrites them a few times, not once each.
Pages are rendered from the stored state only (no wall clock except the date of a withdrawal,
recorded once), so delivering a task again rewrites nothing.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from adapters.common.views import OTHER_COLUMN, PortalEntry, Tombstone, article_path
from adapters.portal.config import PortalConfig
from adapters.portal.files import fsync_dir, make_durable, site_lock
from adapters.portal.pages import SITE_WIDE, SiteWriter, part_keys
from adapters.portal.refresher import Refresher
from adapters.portal.render import render_withdrawn
from adapters.portal.store import PortalStore
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected, Retryable
from schemas.publication import Publication

log = logging.getLogger("govcast.adapters.portal")

LOCK_FILE = ".lock"
OUTAGE_RETRY_SECONDS = 15  # a full or read-only disk: check again this often (attempts are not spent)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # becomes a file name: no '/', no leading dot
_LIST_PAGE_NAME = re.compile(r"^index(?:_\d+)?$")  # an article named like a list page would overwrite it


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PortalAdapter:
    channel: ClassVar[str] = "portal"

    def __init__(self, config: PortalConfig, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.config = config
        self.root = config.root
        self.site = config.site_view()
        self.pages = SiteWriter(self.root, self.site, config.page_size)
        self.refresher = Refresher(self.refresh, config.refresh_seconds)
        self._clock = clock
        self._stores = threading.local()
        self._open: list[PortalStore] = []
        self._open_lock = threading.Lock()

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        rejected = _reject(task)
        if rejected is not None:
            return rejected
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            owed: list[Path] = []  # pages written under the lock without an fsync
            with site_lock(self.root / LOCK_FILE), self.open_store().session() as store:
                store.begin()
                try:
                    if task.action is Action.retract:
                        result = self._retract(store, task.publication, owed)
                    else:
                        result = self._publish(store, task.publication, owed)
                    store.commit()
                finally:
                    store.rollback()
            # The delivery's page is made durable after the lock is released, so the deliveries of a burst wait for
            # the disk side by side, not one after another. The delivery has not succeeded until this returns: after
            # a crash before it, the delivery runs again and rewrites a page the crash left torn.
            make_durable(owed)
            fsync_dir(self.root)
        except OSError as exc:  # disk full, permissions, read-only mount: an outage an operator fixes, waited out
            return self._retry(task, f"portal files not writable: {_describe(exc)}", OUTAGE_RETRY_SECONDS, outage=True)
        except sqlite3.OperationalError as exc:  # the index's disk is full or its file locked: also an outage
            return self._retry(task, f"portal index {self.config.store_path} not writable: {exc}", OUTAGE_RETRY_SECONDS,
                               outage=True)
        except sqlite3.Error as exc:
            return self._retry(task, f"portal index {self.config.store_path} unusable: {exc}", 60)
        self.refresher.request()
        return result

    def refresh(self) -> None:
        """Rewrite the site-wide pages marked dirty (the refresher calls this; so can an operator or a test)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with site_lock(self.root / LOCK_FILE), self.open_store().session() as store:
            store.begin()
            try:
                dirty = store.dirty()
                if dirty:
                    self.pages.site_wide(store, dirty)
                    store.clear_dirty(dirty)
                store.commit()
            finally:
                store.rollback()

    def ensure_site(self) -> None:
        """Write the site-wide pages of a portal that has none yet, so a fresh installation's home page, site
        map, feed and 404 answer before the first delivery (an empty home says so) instead of a bare 404."""
        if (self.root / "index.html").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with site_lock(self.root / LOCK_FILE), self.open_store().session() as store:
            store.begin()
            try:
                store.mark_dirty(["home", "feed", "sitemap", "index"])
                store.commit()
            finally:
                store.rollback()
        self.refresh()

    def close(self) -> None:
        """Write what the refresher still owes (a clean shutdown leaves the site complete)."""
        self.refresher.close()
        with self._open_lock:
            stores, self._open = self._open, []
        for store in stores:
            store.close()
        self._stores = threading.local()

    def open_store(self) -> PortalStore:
        """This thread's connection to the portal index (kept open: opening one costs a schema check, and
        closing the last one a WAL checkpoint; both would be paid on every delivery)."""
        store: PortalStore | None = getattr(self._stores, "store", None)
        if store is not None and not store.usable():
            store.close()
            store = None
        if store is None:
            self.root.mkdir(parents=True, exist_ok=True)  # the store lives beside the tree: their parent must exist
            store = PortalStore(self.config.store_path)
            self._stores.store = store
            with self._open_lock:
                self._open.append(store)
        return store

    # -- actions -------------------------------------------------------------------------------

    def _publish(self, store: PortalStore, pub: Publication, owed: list[Path]) -> DeliveryResult:
        tomb = store.tombstone(pub.id)
        if tomb is not None:
            return Delivered(url=tomb.url, detail=f"withdrawn earlier; retraction wins, version {pub.version} not shown")
        current = store.entry(pub.id)
        if current is not None and current.version > pub.version:
            return Delivered(url=current.url, detail=f"version {pub.version} is older than the published "
                                                     f"version {current.version}; kept the newer one")
        entry = self._entry(pub, current)
        touched = store.neighbourhood([current]).neighbours(current) if current else set()
        old = (current.column, store.rank(current), store.total(current.column)) if current else None
        before = store.total(entry.column)
        store.put(entry, pub)
        touched |= store.neighbourhood([entry]).neighbours(entry)
        self.pages.article(store, entry, pub, durable=False)
        owed.append(self.root / entry.path)
        if old and old[0] == entry.column and _same_place(current, entry):  # a revision that stays where it was
            self.pages.column(store, entry.column, old_total=before, in_place=[old[1]])
        else:
            moved_within = [old[1]] if old and old[0] == entry.column else []
            if old and old[0] != entry.column:
                self.pages.column(store, old[0], old_total=old[2], shifts=[old[1]])
            self.pages.column(store, entry.column, old_total=before, shifts=[store.rank(entry), *moved_within])
        self._after_change(store, touched, store.seq_of(entry.id) or 0)
        return Delivered(url=entry.url, detail=f"version {pub.version} published")

    def _retract(self, store: PortalStore, pub: Publication, owed: list[Path]) -> DeliveryResult:
        current = store.entry(pub.id)
        touched = store.neighbourhood([current]).neighbours(current) if current else set()
        old = (current.column, store.rank(current), store.total(current.column), store.seq_of(current.id)) if current else None
        tomb = store.tombstone(pub.id)
        if tomb is None:  # the first retraction fixes the notice (and its date) for good
            shown = current or self._entry(pub, None)
            tomb = Tombstone(id=pub.id, version=max(pub.version, shown.version), title=shown.title,
                             index_no=shown.index_no, path=shown.path, url=shown.url, column=shown.column,
                             reason=pub.retract_reason or "", withdrawn_at=self._clock())
        store.withdraw(tomb)
        self.pages.write(tomb.path, render_withdrawn(tomb, self.site), durable=False)
        owed.append(self.root / tomb.path)
        if old:
            self.pages.column(store, old[0], old_total=old[2], shifts=[old[1]])
        self._after_change(store, touched, old[3] if old and old[3] else 0)
        return Delivered(url=tomb.url, detail="withdrawn: the page shows the withdrawal notice")

    # -- helpers -------------------------------------------------------------------------------

    def _after_change(self, store: PortalStore, touched: set[str], seq: int) -> None:
        """Re-render pages linking to the changed article (and their list items: [解读]); mark site-wide pages dirty."""
        dirty = set(SITE_WIDE) | (set(part_keys(seq)) if seq else set())
        for pub_id in sorted(touched):
            neighbour, record = store.entry(pub_id), store.record(pub_id)
            if neighbour is None or record is None:
                continue
            self.pages.article(store, neighbour, record)
            self.pages.column(store, neighbour.column, old_total=store.total(neighbour.column),
                              in_place=[store.rank(neighbour)])
            dirty.update(part_keys(store.seq_of(pub_id) or 0))
        for slug in self.pages.missing_fronts():
            self.pages.column(store, slug, old_total=0)
        store.mark_dirty(dirty)

    def _entry(self, pub: Publication, current: PortalEntry | None) -> PortalEntry:
        """The index entry of `pub`; an article keeps its first URL even if a revision moves it to another column."""
        slug = self.config.categories.get(pub.category, OTHER_COLUMN[0])
        path = current.path if current else article_path(slug, pub.id)
        return PortalEntry.of(pub, column=slug, path=path, url=self.site.url(path))

    def _retry(self, task: DeliveryTask, reason: str, after: int, *, outage: bool = False) -> Retryable:
        log.warning("%s: %s", task.delivery_id, reason)
        return Retryable(reason=reason, retry_after=after, outage=outage)


def _same_place(before: PortalEntry | None, after: PortalEntry) -> bool:
    return before is not None and before.sort_key == after.sort_key


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
