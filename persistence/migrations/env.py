"""Alembic environment of the store: migrations run on the connection persistence.migrate hands in (inside its
transaction and schema lock); the alembic command line (developers writing a revision) connects to
GOVCAST_STORE_URL instead, e.g. `GOVCAST_STORE_URL=sqlite:///dev.db alembic -c persistence/migrations/alembic.ini
revision --autogenerate -m "…"`."""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from persistence import text_search
from persistence.engine import make_engine
from persistence.schema import metadata
from persistence.tables import UTCDateTime

# Disposable rate-limit state shares the PostgreSQL database but is no part of the schema (persistence/ratelimit.py).
UNMANAGED = frozenset({"rate_limits"})


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name in UNMANAGED) and not text_search.unmanaged(name, type_)


def _render(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Revisions must not import the application: a UTC timestamp is written down as the column type it is."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, include_object=_include, render_item=_render,
                      render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters a table by copying it
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


conn = context.config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    url = os.environ.get("GOVCAST_STORE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set GOVCAST_STORE_URL to the database to compare with (one at the latest revision)")
    engine = make_engine(url)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
