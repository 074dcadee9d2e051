"""Site search over the portal index: SQLite FTS5 with the trigram tokenizer (Chinese needs no word splitter).

Indexed per live article: title, 文号, 索引号, body text and attachment names (rowid = the entry's `seq`).
A query is split on spaces; every term must appear. Terms of three characters or more use the
trigram index (MATCH), ranked by FTS5's bm25 with the title weighted highest, after an exact title
match and titles containing the query. bm25 reads every match first, so past COUNT_LIMIT matches
(a common word) the newest CANDIDATES matches are ranked by field-weighted term counts instead.
A shorter term (many Chinese words are two characters) cannot form a trigram, so it filters with
LIKE: alone, over the newest MAX_SCAN articles (the page says so).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

from adapters.common.views import PortalEntry
from schemas.publication import Publication

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(title, doc_no, index_no, body, attachments, tokenize = 'trigram');
"""
WEIGHTS = (10.0, 6.0, 6.0, 1.0, 3.0)  # bm25 weights of title, doc_no, index_no, body, attachments
BODY = 3
MAX_TERMS = 8
MAX_QUERY_CHARS = 100
MAX_SCAN = 2_000  # newest rows a query of short terms only examines (LIKE cannot use the trigram index)
CANDIDATES = 200  # newest matches ranked by bm25 (scoring every match of a common word would take seconds)
COUNT_LIMIT = 1_000  # matches counted at most ("more than 1,000")
COLUMNS = ("title", "doc_no", "index_no", "attachments", "body")
SNIPPET_CHARS = 60
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use markers: the text is escaped first, then they become <mark>


@dataclass(frozen=True)
class Hit:
    entry: PortalEntry
    title: Markup  # escaped, matches in <mark>
    snippet: Markup


@dataclass(frozen=True)
class Results:
    query: str
    terms: tuple[str, ...]
    total: int
    hits: tuple[Hit, ...] = ()
    capped: bool = False  # total counted up to a limit only
    offset: int = 0
    notes: tuple[str, ...] = field(default=())
    listed: int = 0  # hits that can be paged through (the ranked ones)


def create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def optimize(db: sqlite3.Connection) -> None:
    """Merge the index into one segment: after a bulk load, so later deliveries do not pay for merging it."""
    db.execute("INSERT INTO search (search) VALUES ('optimize')")


def index(db: sqlite3.Connection, seq: int, pub: Publication, *, fresh: bool = False) -> None:
    if not fresh:  # a revision replaces its row
        db.execute("DELETE FROM search WHERE rowid = ?", (seq,))
    db.execute("INSERT INTO search (rowid, title, doc_no, index_no, body, attachments) VALUES (?, ?, ?, ?, ?, ?)",
               (seq, pub.title, pub.doc_no, pub.index_no_text, pub.body_text, " ".join(a.name for a in pub.attachments)))


def unindex(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM search WHERE rowid = ?", (seq,))


def terms_of(query: str) -> tuple[str, ...]:
    cleaned = " ".join(query.split())[:MAX_QUERY_CHARS]
    return tuple(dict.fromkeys(t for t in cleaned.split(" ") if t))[:MAX_TERMS]


def search(store: object, query: str, *, limit: int = 10, offset: int = 0) -> Results:
    """Ranked hits for `query` (`store` is an adapters.portal.store.PortalStore)."""
    db: sqlite3.Connection = store.db  # type: ignore[attr-defined]
    terms = terms_of(query)
    if not terms:
        return Results(query, terms, 0)
    long_terms = [t for t in terms if len(t) >= 3]
    likes, params = _likes([t for t in terms if len(t) < 3])
    weights = ", ".join(map(str, WEIGHTS))
    total_limit = COUNT_LIMIT + 1
    if long_terms:
        match = " AND ".join(_phrase(t) for t in long_terms)
        extra = f" AND {likes}" if likes else ""
        # Rows come lazily in rowid order, so counting up to a limit is cheap even for a word in every article.
        # bm25 is not: it first scans every match of each phrase. Up to COUNT_LIMIT matches it ranks them all;
        # past that, the newest CANDIDATES matches are ranked by field-weighted term counts (see _weighted).
        total = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM search WHERE search MATCH ?{extra} LIMIT ?)",
                           (match, *params, total_limit)).fetchone()[0]
        if total <= COUNT_LIMIT:
            candidates = db.execute(f"SELECT rowid, title, bm25(search, {weights}) FROM search WHERE search MATCH ?{extra}",
                                    (match, *params)).fetchall()
        else:
            rows = db.execute(f"SELECT rowid, title, doc_no, index_no, body, attachments FROM search WHERE search MATCH "
                              f"?{extra} ORDER BY rowid DESC LIMIT {CANDIDATES}", (match, *params)).fetchall()
            rows += db.execute(f"SELECT rowid, title, doc_no, index_no, body, attachments FROM search WHERE search MATCH "
                               f"?{extra} ORDER BY rowid DESC LIMIT {CANDIDATES}",
                               ("title : (" + match + ")", *params)).fetchall()
            candidates = [(row[0], row[1], _weighted(row[1:], terms)) for row in rows]
    else:
        sql = (f"SELECT rowid, title, 0 FROM (SELECT rowid, * FROM search ORDER BY rowid DESC LIMIT {MAX_SCAN}) "
               f"WHERE {likes}")
        candidates = db.execute(sql, params).fetchall()
        total = len(candidates)
    exact = " ".join(terms)
    ranked = sorted(candidates, key=lambda row: (row[1] != exact, not all(t in row[1] for t in terms), row[2], -row[0]))
    ranked = _exact_titles(db, exact, ranked) + ranked
    seen: set[int] = set()
    unique = [row for row in ranked if not (row[0] in seen or seen.add(row[0]))]  # type: ignore[func-returns-value]
    page = unique[offset:offset + limit]
    entries, bodies = _entries(db, [row[0] for row in page])
    hits = tuple(Hit(entries[seq], highlight(title, terms), highlight(excerpt(bodies[seq], terms), terms))
                 for seq, title, _ in page if seq in entries)
    capped = total > COUNT_LIMIT
    notes: tuple[str, ...] = ()
    if not long_terms and (db.execute("SELECT coalesce(sum(total), 0) FROM columns").fetchone()[0] > MAX_SCAN):
        notes = (f"检索词少于三个字时只检索最新的{MAX_SCAN}条信息；输入三个字以上的词语可检索全部信息。",)
    elif len(unique) < min(total, COUNT_LIMIT):
        notes = (f"命中信息较多，列出其中最相关的{len(unique)}条；请增加检索词缩小范围。",)
    return Results(query, terms, min(total, COUNT_LIMIT), hits, capped, offset, notes, len(unique))


def _weighted(fields: tuple[str, ...], terms: tuple[str, ...]) -> float:
    """A bm25-like score without corpus statistics (lower is better, as bm25() returns): occurrences of
    each term per field, weighted as WEIGHTS, the body's count damped by its length."""
    score = 0.0
    for position, (text, weight) in enumerate(zip(fields, WEIGHTS, strict=True)):
        hits = sum(text.count(t) for t in terms)
        if position == BODY:  # saturating, and lower in a long body (bm25's k1 = 1.2, b = 0.75, 1,000 chars average)
            score += weight * hits / (hits + 1.2 * (0.25 + 0.75 * len(text) / 1000))
        else:
            score += weight * min(hits, 3)
    return -score


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _likes(terms: list[str]) -> tuple[str, list[str]]:
    clauses, params = [], []
    for term in terms:
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in COLUMNS) + ")")
        params += [like] * len(COLUMNS)
    return " AND ".join(clauses), params


def _exact_titles(db: sqlite3.Connection, title: str, ranked: list[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
    """An article whose title is the query, even if older than every candidate."""
    if len(title) < 3 or (ranked and ranked[0][1] == title):
        return []
    rows = db.execute("SELECT seq, ?, 0 FROM entries WHERE title = ? ORDER BY seq DESC LIMIT 5", (title, title)).fetchall()
    return [(int(seq), str(text), 0.0) for seq, text, _ in rows]


def _entries(db: sqlite3.Connection, seqs: list[int]) -> tuple[dict[int, PortalEntry], dict[int, str]]:
    if not seqs:
        return {}, {}
    marks = ",".join("?" * len(seqs))
    rows = db.execute(f"SELECT seq, entry FROM entries WHERE seq IN ({marks})", seqs)
    entries = {seq: PortalEntry.model_validate_json(text) for seq, text in rows}
    bodies = dict(db.execute(f"SELECT rowid, body FROM search WHERE rowid IN ({marks})", seqs).fetchall())
    return entries, bodies


def excerpt(text: str, terms: tuple[str, ...]) -> str:
    """About SNIPPET_CHARS characters of `text` around the first term found (the start if none)."""
    flat = " ".join(text.split())
    found = [i for i in (flat.find(t) for t in terms) if i >= 0]
    start = max(0, min(found) - SNIPPET_CHARS // 3) if found else 0
    piece = flat[start:start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(flat) else "")


def highlight(text: str, terms: tuple[str, ...]) -> Markup:
    """`text` escaped, every occurrence of a term in <mark>."""
    if not terms:
        return Markup(escape(text))
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    marked = pattern.sub(lambda m: f"{_OPEN}{m[0]}{_CLOSE}", text)
    return Markup(escape(marked).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))
