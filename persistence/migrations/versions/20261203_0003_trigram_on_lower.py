"""PostgreSQL: the console's trigram indexes on lower(column), so that 索引号 lookups by equality use the B-tree.

pg_trgm (≥ 1.6, PostgreSQL 14) lets a trigram GIN index answer `=` too, and the planner took migration 0002's
index on `index_no` for the submit path's "is this 索引号 taken?" lookups instead of the unique B-tree. Every
索引号 of a department shares most of its trigrams, so each lookup read the posting lists of all the department's
publications: about 5 ms at 2,300 publications, growing with the table, while the batch holds the department's
索引号 counter row (every other submission of that department waits). An index on an expression cannot answer
a comparison of the bare column: equality goes to the B-tree, and the console's substring filter, which matches
`lower(column) LIKE lower(text)`, keeps its trigram index -- case-insensitive now, as on SQLite.

SQLite is not affected (its text index is an FTS5 table that no `=` reaches).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = {"ix_publications_title_trgm": "title", "ix_publications_index_no_trgm": "index_no",
           "ix_publications_doc_no_trgm": "doc_no"}  # migration 0002's indexes, by the same names


def _rebuild(expression: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    home = bind.exec_driver_sql("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                                "WHERE e.extname = 'pg_trgm'").scalar()
    if home is None:  # migration 0002 could not create pg_trgm (logged then): the filter scans, no index to move
        return
    for name, column in COLUMNS.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f'CREATE INDEX {name} ON publications USING gin ({expression.format(column)} "{home}".gin_trgm_ops)')


def upgrade() -> None:
    _rebuild("(lower({}))")  # an expression index is written in parentheses


def downgrade() -> None:
    _rebuild("{}")
