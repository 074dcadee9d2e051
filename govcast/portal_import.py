"""`govcast portal import FILE.jsonl`: load an earlier portal's archive into the portal, and only the portal.

One publication per line: the public fields of a submission (title, body, kind, category, theme,
publisher, publisher_code, written_date, doc_no, validity, keywords, related, attachments, summary)
plus the original `index_no` and `publish_date` (both required) and an optional `original_url`
(its path then answers with a 301 to the new page). The archive predates govcast's 三审 record, so
each item is recorded as reviewed by the earlier site ("原网站已发布（存档导入）").

Two passes, both resumable: (1) every line is validated like a submission and written to the portal
index in batches, one transaction each, with the line reached stored in the same transaction;
(2) article pages are rendered from the index, in batches, the last one done stored likewise; then
every list page and the site-wide pages. Parsing and rendering, most of the cost, run in worker
processes (govcast.portal_import_work, one per core); this process writes the index and the counters,
in line order. After kill -9, running the same command again continues
where the last committed batch ended; a line loaded twice is the same row (its id comes from its
索引号), so nothing is duplicated and nothing is skipped. Other channels never see these items: they
do not pass through the pipeline. Their 索引号 are reserved in the status store.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from adapters.common.views import OTHER_COLUMN, PortalEntry, article_path
from adapters.portal import PortalAdapter
from adapters.portal.files import fsync_dir, site_lock
from adapters.portal.pages import PART_SIZE, SITE_WIDE
from adapters.portal.store import PortalStore
from govcast.portal_import_work import Workers, available_cores, parse_lines, render_articles
from govcast.subscribers_import import Progress
from persistence.store import StatusStore
from schemas.publication import Publication

BATCH = 500


class ArchiveImport:
    def __init__(self, adapter: PortalAdapter, status: StatusStore | None, path: Path, err: TextIO,
                 workers: int = 0) -> None:
        self.adapter, self.status, self.path, self.err = adapter, status, path, err
        self.workers = workers or available_cores()
        stat = path.stat()
        self.key = "import:" + hashlib.sha256(f"{path.resolve()}:{stat.st_size}".encode()).hexdigest()[:16]

    def run(self) -> int:
        started = time.monotonic()
        with self.path.open("rb") as source:
            total = sum(1 for _ in source)
        # Spawning workers costs about a second each: a file of a few batches is parsed and rendered here.
        workers = Workers(self.workers if total > 2 * BATCH else 1, self.adapter)
        try:
            loaded, bad = self._load(total, workers)
            lines_done = time.monotonic()
            rendered = self._render(workers)
            pages_done = time.monotonic()
        finally:
            workers.close()
        self._finish()
        now = time.monotonic()
        self.err.write(f"imported {loaded:,} archived items ({rendered:,} pages written), rejected {bad:,} lines "
                       f"in {now - started:.1f} s (lines {lines_done - started:.1f} s, article pages "
                       f"{pages_done - lines_done:.1f} s, lists and site-wide pages {now - pages_done:.1f} s; "
                       f"{workers.count} worker processes)\n")
        return 1 if bad else 0

    # -- pass 1: lines into the portal index -----------------------------------------------------

    def _load(self, total: int, workers: Workers) -> tuple[int, int]:
        store = self.adapter.open_store()
        done = _counter(store, f"{self.key}:line")
        if done:
            self.err.write(f"resuming after line {done:,} (an earlier run was interrupted)\n")
        progress = Progress(total, self.err)
        loaded = bad = 0
        seen: dict[str, int] = {}  # 索引号 -> line (this run): a second line with one would overwrite the first
        with self.path.open(encoding="utf-8-sig") as lines:
            for parsed in workers.ordered(parse_lines, _chunks(lines, done)):
                batch: list[tuple[Publication, str | None]] = []
                for number, pub, original in parsed:
                    if isinstance(pub, Publication) and (first := seen.setdefault(pub.index_no_text, number)) != number:
                        pub = f"index_no {pub.index_no_text} already given on line {first}"
                    if isinstance(pub, str):
                        bad += 1
                        self.err.write(f"\nline {number}: {pub}\n")
                    else:
                        batch.append((pub, original))
                last_line = parsed[-1][0]
                loaded += self._commit(batch, total if last_line == total else last_line)
                progress.show(last_line)
        progress.show(total, final=True)
        return loaded, bad

    def _commit(self, batch: list[tuple[Publication, str | None]], line: int) -> int:
        adapter = self.adapter
        with site_lock(adapter.root / ".lock"), adapter.open_store().session() as store:
            store.begin()
            try:
                for pub, original in batch:
                    if store.tombstone(pub.id) is None:
                        slug = adapter.config.categories.get(pub.category, OTHER_COLUMN[0])
                        current = store.entry(pub.id)
                        path = current.path if current else article_path(slug, pub.id)
                        entry = PortalEntry.of(pub, column=slug, path=path, url=adapter.site.url(path))
                        store.put(entry, pub)
                        if original:
                            store.add_redirect(urlsplit(original).path, entry.url)
                _set_counter(store, f"{self.key}:line", line)
                store.commit()
            finally:
                store.rollback()
        if self.status is not None:  # reserved after the portal commit: a rerun reserves them again, harmlessly
            self.status.reserve_archived([pub.index for pub, _ in batch])
        return len(batch)

    # -- pass 2: pages ---------------------------------------------------------------------------

    def _render(self, workers: Workers) -> int:
        """Article pages, rendered by the workers a span of entries each; the span's end is committed in order."""
        store = self.adapter.open_store()
        last = store.last_seq()
        done = _counter(store, f"{self.key}:seq")
        progress = Progress(last, self.err)
        spans = [(first, min(last, first + BATCH - 1)) for first in range(done + 1, last + 1, BATCH)]
        written = 0
        for (_, upto), count in zip(spans, workers.ordered(render_articles, spans), strict=True):
            written += count
            with store.session():
                store.begin()
                try:
                    _set_counter(store, f"{self.key}:seq", upto)
                    store.commit()
                finally:
                    store.rollback()
            progress.show(upto)
        progress.show(last, final=True)
        return written

    def _finish(self) -> None:
        """Every list page, then every site-wide page and part."""
        adapter = self.adapter
        with site_lock(adapter.root / ".lock"), adapter.open_store().session() as store:
            store.begin()
            try:
                adapter.pages.all_columns(store)
                parts = store.last_seq() // PART_SIZE + 1
                store.mark_dirty([*SITE_WIDE, *(f"{kind}:{n}" for kind in ("sitemap", "index") for n in range(1, parts + 1))])
                store.commit()
            finally:
                store.rollback()
        adapter.refresh()
        adapter.open_store().compact()
        os.sync()  # the pages were written without an fsync each: one sync makes them all durable
        fsync_dir(adapter.root)


def _counter(store: PortalStore, name: str) -> int:
    row = store.db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _set_counter(store: PortalStore, name: str, value: int) -> None:
    store.db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "
                     "excluded.value", (name, value))


def _chunks(lines: Iterable[str], done: int) -> Iterator[list[tuple[int, str]]]:
    """The lines after line `done`, numbered from 1, BATCH at a time (blank lines skipped)."""
    chunk: list[tuple[int, str]] = []
    for number, text in enumerate(lines, start=1):
        if number > done and text.strip():
            chunk.append((number, text))
            if len(chunk) >= BATCH:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def import_archive(adapter: PortalAdapter, status: StatusStore | None, path: Path, err: TextIO = sys.stderr,
                   workers: int = 0) -> int:
    """`workers`: processes that parse lines and render pages (0: one per available core)."""
    try:
        job = ArchiveImport(adapter, status, path, err, workers)
    except OSError as exc:
        print(f"govcast portal import: cannot read {path}: {exc}", file=err)
        return 2
    try:
        return job.run()
    finally:
        adapter.close()
