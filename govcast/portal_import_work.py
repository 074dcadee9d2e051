"""The CPU-heavy work of `govcast portal import`, spread over worker processes.

Parsing a line (JSON, validation as a submission, normalizing) and rendering an article page cost a few
milliseconds of pure Python each; one process would use one of the machine's cores. `Workers` runs them in
a pool of processes and hands the results back in submission order, so the importing process can commit
its resume counters in order: whatever a worker did past the last committed counter is redone after an
interruption (a parsed line is parsed again; a page is written again with the same bytes).

Workers are spawned, not forked: the importing process holds SQLite connections and maybe threads, which a
fork would copy mid-use. Each worker opens its own connection to the portal index and only reads it.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from adapters.portal import PortalAdapter, PortalConfig
from adapters.portal.adapter import LOCK_FILE
from adapters.portal.files import site_lock
from schemas.publication import Publication

In = TypeVar("In")
Out = TypeVar("Out")

# (line number, the publication or the reason the line was refused, original URL)
Parsed = tuple[int, Publication | str, str | None]

_adapter: PortalAdapter | None = None  # this process's portal (set by _start)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Workers:
    """`count` worker processes, or the calling process itself when `count` ≤ 1."""

    def __init__(self, count: int, adapter: PortalAdapter) -> None:
        global _adapter
        self.count = count
        self.pool: ProcessPoolExecutor | None = None
        if count > 1:
            self.pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start, initargs=(adapter.config, os.getpid()))
        else:
            _adapter = adapter

    def ordered(self, work: Callable[[In], Out], items: Iterable[In]) -> Iterator[Out]:
        """`work(item)` for every item, results in the order of `items`; at most two items per worker in flight
        (a 100,000-line file is never all in memory)."""
        if self.pool is None:
            yield from map(work, items)
            return
        pending: collections.deque[Future[Out]] = collections.deque()
        for item in items:
            pending.append(self.pool.submit(work, item))
            if len(pending) >= 2 * self.count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        global _adapter
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        _adapter = None


def _start(config: PortalConfig, parent: int) -> None:
    global _adapter
    _adapter = PortalAdapter(config)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """An importer killed with -9 cannot stop its workers; they notice they were orphaned and stop."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def parse_lines(chunk: list[tuple[int, str]]) -> list[Parsed]:
    from govcast.portal_archive_line import BadLine, parse_line, to_publication

    parsed: list[Parsed] = []
    for number, text in chunk:
        try:
            fields, original = parse_line(text)
            parsed.append((number, to_publication(fields), original))
        except (BadLine, ValueError) as exc:
            parsed.append((number, str(exc), None))
    return parsed


def render_articles(span: tuple[int, int]) -> int:
    """Article pages of the entries first published as numbers first..last; how many were written.

    Under a shared site lock: renderers run side by side; a delivery (exclusive) waits, so no page is
    rendered from a neighbourhood a delivery is changing."""
    assert _adapter is not None, "Workers not started"
    first, last = span
    written = 0
    store = _adapter.open_store()
    with site_lock(_adapter.root / LOCK_FILE, shared=True), store.session():
        store.db.execute("BEGIN")  # one read snapshot for the whole span
        try:
            for entry in store.by_seq(first, last):
                record = store.record(entry.id)
                if record is not None:
                    _adapter.pages.article(store, entry, record, durable=False)
                    written += 1
        finally:
            store.rollback()
    return written
