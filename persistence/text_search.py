"""The console's "text in title/索引号/文号" filter, answered from a trigram index instead of a scan.

The index is made by migration 0002 (persistence/migrations/versions): on SQLite an FTS5 table with the
trigram tokenizer kept in step by triggers, on PostgreSQL pg_trgm GIN indexes on the three columns, on
lower(column) since migration 0003 (so that lookups of a 索引号 by equality use its B-tree). Both answer the
same substring match the filter always meant (`LIKE '%text%'`), case-insensitive for ASCII letters.
Text shorter than three characters has no trigram: SQLite then scans with LIKE as before (PostgreSQL's
pg_trgm handles short patterns itself); so does a text found in more than SET_LIMIT publications (below).

The index's tables and indexes are not in the models' MetaData (SQLAlchemy cannot describe an FTS5 table);
`unmanaged` tells Alembic's autogenerate to leave them alone.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    String,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy import text as sql

from persistence.tables import publications

FTS_TABLE = "publications_text"  # and its FTS5 shadow tables publications_text_data, _idx, _content, ...
KEYS_TABLE = "publications_text_keys"
SET_LIMIT = 5_000  # SQLite: matches up to which the index's set is sorted (beyond, the newest rows are scanned)
TRIGRAM_INDEXES = frozenset({"ix_publications_title_trgm", "ix_publications_index_no_trgm", "ix_publications_doc_no_trgm"})

_keys = table(KEYS_TABLE, column("row", Integer), column("id", String))


def unmanaged(name: str | None, type_: str) -> bool:
    """A table or index of the text search index (made by its migration, not by the models)."""
    if name is None:
        return False
    if type_ == "table":
        return name in (KEYS_TABLE, FTS_TABLE) or name.startswith(FTS_TABLE + "_")
    return type_ == "index" and name in TRIGRAM_INDEXES


def like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def text_condition(conn: Connection, text: str) -> ColumnElement[bool]:
    """Publications whose title, 索引号 or 文号 contains `text`.

    On SQLite the index gives the matching publications as a set, which the page then sorts by date: cheap
    for a rare text, but a text in most titles would sort tens of thousands of rows to show 50. So the set
    is used when it is small (at most SET_LIMIT, counted from the index); a common text is matched while
    reading the newest publications instead, which finds a page of them after a few hundred rows.
    PostgreSQL's planner makes that choice itself from its statistics.
    """
    p = publications.c
    if conn.dialect.name == "sqlite" and len(text) >= 3:
        phrase = '"' + text.replace('"', '""') + '"'  # one FTS5 phrase: the trigrams in a row, i.e. the substring
        match = sql(f"{FTS_TABLE} MATCH :phrase").bindparams(bindparam("phrase", phrase))
        rows = select(literal_column("rowid", Integer)).select_from(table(FTS_TABLE)).where(match)
        matches = conn.execute(select(func.count()).select_from(rows.limit(SET_LIMIT + 1).subquery())).scalar_one()
        if matches <= SET_LIMIT:
            return p.id.in_(select(_keys.c.id).where(_keys.c.row.in_(rows)))
    pattern = like_pattern(text)
    if conn.dialect.name == "postgresql":  # the trigram indexes are on lower(column) (migration 0003)
        lowered = func.lower(pattern)  # PostgreSQL's own lower() on both sides: the same letters folded
        return or_(*(func.lower(c).like(lowered, escape="\\") for c in (p.title, p.index_no, p.doc_no)))
    return or_(p.title.like(pattern, escape="\\"), p.index_no.like(pattern, escape="\\"),
               p.doc_no.like(pattern, escape="\\"))
