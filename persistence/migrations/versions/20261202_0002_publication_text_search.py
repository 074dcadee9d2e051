"""Console text search: an index on the publications' title, 索引号 and 文号 that answers substring queries.

The console's "text in title/索引号/文号" filter is a substring match (`LIKE '%…%'`), which no B-tree index can
answer: at 100,000 publications it scanned them all (1.5 s on SQLite, 0.45 s on PostgreSQL). A trigram index can:

- SQLite: an FTS5 table with the trigram tokenizer over the three columns, kept in step with `publications` by
  triggers on every insert, update of those columns and delete (whatever code writes the row). FTS5 rows are
  keyed by `publications_text_keys.row`, an INTEGER PRIMARY KEY, because `publications` has a text key and
  its implicit rowid may change on VACUUM.
- PostgreSQL: pg_trgm GIN indexes on the three columns (the planner ORs them for the filter's three LIKEs),
  maintained by PostgreSQL itself. pg_trgm is a trusted extension (PostgreSQL ≥ 13): the database owner can
  create it. Where it cannot be created, the indexes are left out and the filter scans as before (logged).
  pg_trgm only finds trigrams in characters the database's LC_CTYPE classifies as letters: Chinese needs a
  UTF-8 ctype (C.UTF-8, zh_CN.UTF-8), not C (docs/operations.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("govcast.persistence.migrations")

TRIGRAM_INDEXES = {"ix_publications_title_trgm": "title", "ix_publications_index_no_trgm": "index_no",
                   "ix_publications_doc_no_trgm": "doc_no"}

_ROW = "(SELECT row FROM publications_text_keys WHERE id = {}.id)"
_SQLITE = [
    "CREATE TABLE publications_text_keys (row INTEGER PRIMARY KEY, id VARCHAR(40) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE publications_text USING fts5(title, index_no, doc_no, tokenize = 'trigram')",
    "INSERT INTO publications_text_keys (id) SELECT id FROM publications ORDER BY created_at",
    "INSERT INTO publications_text (rowid, title, index_no, doc_no) SELECT k.row, p.title, p.index_no, "
    "coalesce(p.doc_no, '') FROM publications p JOIN publications_text_keys k ON k.id = p.id",
    "CREATE TRIGGER publications_text_insert AFTER INSERT ON publications BEGIN "
    "INSERT INTO publications_text_keys (id) VALUES (new.id); "
    f"INSERT INTO publications_text (rowid, title, index_no, doc_no) VALUES ({_ROW.format('new')}, new.title, "
    "new.index_no, coalesce(new.doc_no, '')); END",
    "CREATE TRIGGER publications_text_update AFTER UPDATE OF id, title, index_no, doc_no ON publications BEGIN "
    f"DELETE FROM publications_text WHERE rowid = {_ROW.format('old')}; "
    "UPDATE publications_text_keys SET id = new.id WHERE id = old.id; "
    f"INSERT INTO publications_text (rowid, title, index_no, doc_no) VALUES ({_ROW.format('new')}, new.title, "
    "new.index_no, coalesce(new.doc_no, '')); END",
    "CREATE TRIGGER publications_text_delete AFTER DELETE ON publications BEGIN "
    f"DELETE FROM publications_text WHERE rowid = {_ROW.format('old')}; "
    "DELETE FROM publications_text_keys WHERE id = old.id; END",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        return
    try:
        with bind.begin_nested():  # a failure must not abort the migration's transaction
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): the console's text filter stays a full scan", exc.orig)
        return
    # The extension lives in one schema of the database (the first of the search_path when it was created);
    # the operator class is named with it, so a store in another schema finds it.
    home = bind.exec_driver_sql("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                                "WHERE e.extname = 'pg_trgm'").scalar_one()
    for name, column in TRIGRAM_INDEXES.items():
        op.execute(f'CREATE INDEX IF NOT EXISTS {name} ON publications USING gin ({column} "{home}".gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("publications_text_insert", "publications_text_update", "publications_text_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS publications_text")
        op.execute("DROP TABLE IF EXISTS publications_text_keys")
        return
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
