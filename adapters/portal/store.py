"""The portal's own index: a SQLite database next to the published tree (never inside it).

One row per live article (its list entry and its stored publication), one per withdrawn
article, the references between them, per-column counts, and the derived pages that
wait for the coalescing refresher. Every query a delivery makes is an indexed lookup or
a short range scan, so a delivery costs the same on an empty site and at 100,000 articles.

Connections are opened per delivery under the site lock (adapters.portal.files.site_lock);
a delivery is one transaction, committed after its pages are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from adapters.common.views import CST, EntryRef, PortalEntry, Revision, Tombstone, aware
from adapters.portal import policies, search
from adapters.portal.site import SiteIndex
from schemas.publication import Publication, Relation

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,              -- first-publication order: anchors sitemap and JSON index parts
    col TEXT NOT NULL,
    publish_date TEXT NOT NULL,
    updated TEXT NOT NULL,
    index_no TEXT NOT NULL,
    title TEXT NOT NULL,               -- an exact title match ranks first in search
    entry TEXT NOT NULL,               -- PortalEntry JSON
    record TEXT NOT NULL               -- Publication JSON (to re-render the page when a neighbour changes)
);
CREATE INDEX IF NOT EXISTS entries_in_column ON entries (col, publish_date, updated, id);
CREATE INDEX IF NOT EXISTS entries_newest ON entries (publish_date, updated, id);
CREATE INDEX IF NOT EXISTS entries_index_no ON entries (index_no);
CREATE INDEX IF NOT EXISTS entries_title ON entries (title);
CREATE UNIQUE INDEX IF NOT EXISTS entries_seq ON entries (seq);
CREATE TABLE IF NOT EXISTS withdrawn (
    id TEXT PRIMARY KEY,
    index_no TEXT NOT NULL,
    withdrawn_at TEXT NOT NULL,
    tomb TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS withdrawn_index_no ON withdrawn (index_no);
CREATE TABLE IF NOT EXISTS refs (source TEXT NOT NULL, key TEXT NOT NULL, relation TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS refs_key ON refs (key);
CREATE INDEX IF NOT EXISTS refs_source ON refs (source);
CREATE TABLE IF NOT EXISTS columns (col TEXT PRIMARY KEY, total INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dirty (page TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revisions (id TEXT NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL,
                                      PRIMARY KEY (id, version));
CREATE TABLE IF NOT EXISTS redirects (old_path TEXT PRIMARY KEY, url TEXT NOT NULL);  -- archive's old URLs
"""


def _stamp(value: dt.datetime) -> str:
    """Sortable text of a moment (UTC, fixed width)."""
    return aware(value).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def sort_values(entry: PortalEntry) -> tuple[str, str, str]:
    return (entry.publish_date.isoformat(), _stamp(entry.updated), entry.id)


class PortalStore:
    """One connection to the portal index (not shared between threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.broken = False
        self.db = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        self.inode = path.stat().st_ino
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: kill -9 safe; the pages are fsynced separately
        self.db.execute("PRAGMA cache_size=-32000")  # 32 MB: list and search queries at 100,000 articles stay in memory
        self.db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back after a bulk load
        self.db.executescript(SCHEMA)
        search.create(self.db)
        policies.create(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PortalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def usable(self) -> bool:
        """Still the database at `path` (not failed, not replaced by an operator restoring a backup)."""
        try:
            return not self.broken and self.path.stat().st_ino == self.inode
        except FileNotFoundError:
            return False

    @contextlib.contextmanager
    def session(self) -> Iterator[PortalStore]:
        """Use a kept-open connection; a broken one (its file replaced or corrupt) is closed, the next reopens."""
        try:
            yield self
        except sqlite3.DatabaseError:
            self.broken = True
            raise

    def compact(self) -> None:
        """After a bulk load: merge the search index and fold the write-ahead log into the database."""
        search.optimize(self.db)
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    # -- reads -----------------------------------------------------------------------------------

    def entry(self, pub_id: str) -> PortalEntry | None:
        row = self.db.execute("SELECT entry FROM entries WHERE id = ?", (pub_id,)).fetchone()
        return PortalEntry.model_validate_json(row[0]) if row else None

    def tombstone(self, pub_id: str) -> Tombstone | None:
        row = self.db.execute("SELECT tomb FROM withdrawn WHERE id = ?", (pub_id,)).fetchone()
        return Tombstone.model_validate_json(row[0]) if row else None

    def record(self, pub_id: str) -> Publication | None:
        row = self.db.execute("SELECT record FROM entries WHERE id = ?", (pub_id,)).fetchone()
        return Publication.model_validate_json(row[0]) if row else None

    def total(self, column: str) -> int:
        row = self.db.execute("SELECT total FROM columns WHERE col = ?", (column,)).fetchone()
        return int(row[0]) if row else 0

    def totals(self) -> dict[str, int]:
        return {col: total for col, total in self.db.execute("SELECT col, total FROM columns WHERE total > 0")}

    def count(self) -> int:
        return sum(self.totals().values())

    def rank(self, entry: PortalEntry) -> int:
        """Position of `entry` in its column counted from the oldest (0-based); counts the newer side (short)."""
        newer = self.db.execute("SELECT count(*) FROM entries WHERE col = ? AND (publish_date, updated, id) > (?, ?, ?)",
                                (entry.column, *sort_values(entry))).fetchone()[0]
        return self.total(entry.column) - 1 - int(newer)

    def newest(self, column: str | None, limit: int, offset: int = 0) -> list[PortalEntry]:
        """Live entries newest first (of one column, or of the site)."""
        if column is None:
            rows = self.db.execute("SELECT entry FROM entries ORDER BY publish_date DESC, updated DESC, id DESC "
                                   "LIMIT ? OFFSET ?", (limit, offset))
        else:
            rows = self.db.execute("SELECT entry FROM entries WHERE col = ? ORDER BY publish_date DESC, updated DESC, "
                                   "id DESC LIMIT ? OFFSET ?", (column, limit, offset))
        return self._marked([PortalEntry.model_validate_json(r[0]) for r in rows])

    def ranked(self, column: str, start: int, count: int) -> list[PortalEntry]:
        """`count` entries of `column` from rank `start` (from the oldest), returned newest first; scans the shorter side."""
        total = self.total(column)
        from_newest = total - start - count
        if from_newest <= start:
            return self.newest(column, count, max(0, from_newest))
        rows = self.db.execute("SELECT entry FROM entries WHERE col = ? ORDER BY publish_date, updated, id "
                               "LIMIT ? OFFSET ?", (column, count, start))
        return self._marked([PortalEntry.model_validate_json(r[0]) for r in rows][::-1])

    def in_parts(self, part: int, size: int) -> list[PortalEntry]:
        """Live entries first published as numbers [part*size+1, (part+1)*size]: one sitemap / JSON index part."""
        rows = self.db.execute("SELECT entry FROM entries WHERE seq > ? AND seq <= ? ORDER BY seq",
                               (part * size, (part + 1) * size))
        return self._marked([PortalEntry.model_validate_json(r[0]) for r in rows])

    def by_seq(self, first: int, last: int) -> list[PortalEntry]:
        rows = self.db.execute("SELECT entry FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))
        return [PortalEntry.model_validate_json(r[0]) for r in rows]

    def revisions(self, pub_id: str) -> list[Revision]:
        rows = self.db.execute("SELECT version, at, note FROM revisions WHERE id = ? ORDER BY version", (pub_id,))
        return [Revision(int(v), dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC), note)
                for v, at, note in rows]

    def redirect(self, old_path: str) -> str | None:
        row = self.db.execute("SELECT url FROM redirects WHERE old_path = ?", (old_path,)).fetchone()
        return str(row[0]) if row else None

    def add_redirect(self, old_path: str, url: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO redirects (old_path, url) VALUES (?, ?)", (old_path, url))

    def last_seq(self) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return int(row[0]) if row else 0

    def withdrawn_all(self) -> list[Tombstone]:
        rows = self.db.execute("SELECT tomb FROM withdrawn ORDER BY withdrawn_at DESC, id DESC")
        return [Tombstone.model_validate_json(r[0]) for r in rows]

    def last_withdrawn_at(self) -> dt.datetime | None:
        row = self.db.execute("SELECT tomb FROM withdrawn ORDER BY withdrawn_at DESC LIMIT 1").fetchone()
        return Tombstone.model_validate_json(row[0]).withdrawn_at if row else None

    def last_modified(self) -> dt.datetime | None:
        """The newest PortalEntry.last_modified of any live entry (feed <updated>), from two indexed maxima."""
        updated, day = self.db.execute("SELECT max(updated), max(publish_date) FROM entries").fetchone()
        if updated is None:
            return None
        moment = dt.datetime.strptime(updated, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)
        return max(moment, dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), CST))

    def interpreted_by(self, entries: Iterable[PortalEntry]) -> dict[str, list[str]]:
        """id -> live interpretations (newest first), resolved exactly as the article pages resolve them."""
        chosen = list(entries)
        graph = self.neighbourhood(chosen)
        return {e.id: graph.interpreted_by(e) for e in chosen}

    def _marked(self, entries: list[PortalEntry]) -> list[PortalEntry]:
        """Entries with `interpreted` set where a live interpretation names them (list items show [解读])."""
        keys = {k for e in entries for k in (e.id, e.index_no)}
        if not keys:
            return entries
        marks = ",".join("?" * len(keys))
        named = {k for (k,) in self.db.execute(
            f"SELECT DISTINCT key FROM refs WHERE relation = ? AND key IN ({marks})",
            (Relation.interprets.value, *keys))}
        return [e.model_copy(update={"interpreted": True}) if {e.id, e.index_no} & named else e for e in entries]

    # -- the link graph around some entries ------------------------------------------------------

    def neighbourhood(self, entries: Iterable[PortalEntry]) -> SiteIndex:
        """A SiteIndex holding `entries`, what they reference, what references them and what those reference:
        enough for SiteIndex's relation queries about `entries` to answer as on the whole site."""
        graph = SiteIndex()
        chosen = list(entries)
        for entry in chosen:
            graph.entries[entry.id] = entry
        self._add_targets(graph, chosen)
        keys = {k for e in chosen for k in (e.id, e.index_no)}
        sources = self._referrers(keys)
        for source in sources:
            graph.entries.setdefault(source.id, source)
        self._add_targets(graph, sources)
        graph._cache.clear()
        return graph

    def _referrers(self, keys: set[str]) -> list[PortalEntry]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT e.entry FROM entries e WHERE e.id IN (SELECT source FROM refs WHERE key IN ({marks}))",
            tuple(keys))
        return [PortalEntry.model_validate_json(r[0]) for r in rows]

    def _add_targets(self, graph: SiteIndex, sources: Iterable[PortalEntry]) -> None:
        ids = {r.id for s in sources for r in s.related if r.id}
        index_nos = {r.index_no for s in sources for r in s.related if r.index_no}
        for found in self._by_keys("id", ids) + self._by_keys("index_no", index_nos):
            if isinstance(found, PortalEntry):
                graph.entries.setdefault(found.id, found)
            else:
                graph.withdrawn.setdefault(found.id, found)

    def _by_keys(self, field: str, keys: set[str]) -> list[PortalEntry | Tombstone]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        live = self.db.execute(f"SELECT entry FROM entries WHERE {field} IN ({marks})", tuple(keys))
        gone = self.db.execute(f"SELECT tomb FROM withdrawn WHERE {field} IN ({marks})", tuple(keys))
        return ([PortalEntry.model_validate_json(r[0]) for r in live]
                + [Tombstone.model_validate_json(r[0]) for r in gone])

    # -- writes (inside begin/commit) ------------------------------------------------------------

    def put(self, entry: PortalEntry, pub: Publication) -> None:
        current = self.db.execute("SELECT seq, col FROM entries WHERE id = ?", (entry.id,)).fetchone()
        if current:
            seq, old_column = current
            self._count(old_column, -1)
        else:
            seq = self.last_seq() + 1
            self.db.execute("INSERT INTO counters (name, value) VALUES ('seq', ?) "
                            "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (seq,))
        publish_date, updated, _ = sort_values(entry)
        self.db.execute("INSERT OR REPLACE INTO entries (id, seq, col, publish_date, updated, index_no, title, entry, record) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (entry.id, seq, entry.column, publish_date, updated, entry.index_no, entry.title,
                         entry.model_dump_json(exclude={"interpreted"}), pub.model_dump_json()))
        self._count(entry.column, +1)
        self._set_refs(entry.id, entry.related, fresh=not current)
        search.index(self.db, seq, pub, fresh=not current)
        self.db.execute("INSERT OR IGNORE INTO revisions (id, version, at, note) VALUES (?, ?, ?, ?)",
                        (pub.id, pub.version, _stamp(pub.submitted_at), pub.change_note))
        policies.put(self.db, seq, entry, pub, fresh=not current)

    def seq_of(self, pub_id: str) -> int | None:
        row = self.db.execute("SELECT seq FROM entries WHERE id = ?", (pub_id,)).fetchone()
        return int(row[0]) if row else None

    def withdraw(self, tomb: Tombstone) -> None:
        current = self.db.execute("SELECT col, seq FROM entries WHERE id = ?", (tomb.id,)).fetchone()
        if current:
            self._count(current[0], -1)
            search.unindex(self.db, current[1])
            policies.remove(self.db, current[1])
            self.db.execute("DELETE FROM entries WHERE id = ?", (tomb.id,))
        self._set_refs(tomb.id, ())
        self.db.execute("INSERT OR REPLACE INTO withdrawn (id, index_no, withdrawn_at, tomb) VALUES (?, ?, ?, ?)",
                        (tomb.id, tomb.index_no, _stamp(tomb.withdrawn_at), tomb.model_dump_json()))

    def mark_dirty(self, pages: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO dirty (page) VALUES (?)", [(p,) for p in pages])

    def dirty(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT page FROM dirty")}

    def clear_dirty(self, pages: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM dirty WHERE page = ?", [(p,) for p in pages])

    def _count(self, column: str, delta: int) -> None:
        self.db.execute("INSERT INTO columns (col, total) VALUES (?, ?) "
                        "ON CONFLICT (col) DO UPDATE SET total = total + excluded.total", (column, delta))

    def _set_refs(self, source: str, related: Iterable[EntryRef], *, fresh: bool = False) -> None:
        """`fresh`: a new entry, nothing to delete first (bulk loads skip the lookups)."""
        if not fresh:
            self.db.execute("DELETE FROM refs WHERE source = ?", (source,))
        rows = {(source, key, ref.relation.value) for ref in related for key in (ref.id, ref.index_no) if key}
        self.db.executemany("INSERT INTO refs (source, key, relation) VALUES (?, ?, ?)", sorted(rows))

    def all_entries(self) -> Iterator[PortalEntry]:
        for (text,) in self.db.execute("SELECT entry FROM entries ORDER BY seq"):
            yield PortalEntry.model_validate_json(text)
